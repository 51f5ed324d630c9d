package bus

// ParseExecAddress is parseExecAddress for the tests of package bus_test; argv[0] is path.
func ParseExecAddress(addr string) ([]string, error) {
	path, argv, err := parseExecAddress(addr)
	if err != nil {
		return nil, err
	}
	argv[0] = path
	return argv, nil
}
