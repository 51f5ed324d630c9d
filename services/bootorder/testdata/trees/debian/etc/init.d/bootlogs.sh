#!/bin/sh
### BEGIN INIT INFO
# Provides:          bootlogs
# Required-Start:    $local_fs
# Required-Stop:
# Default-Start:     1 2 3 4 5
# Default-Stop:
# Short-Description: Log file handling to be done during bootup.
### END INIT INFO
echo boot
