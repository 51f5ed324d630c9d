// Package version holds the hostkit release, set at build time by the Makefile.
package version

// Version is the hostkit release; "dev" in a build that did not go through make.
var Version = "dev"
