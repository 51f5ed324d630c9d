package hardware

import (
	"bufio"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
)

//go:embed data/jedec.txt
var jedecData string

// jedecMakers maps a canonical four-digit code ("80CE") to a maker's name.
var jedecMakers = readJEDEC(jedecData)

func readJEDEC(data string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, name, _ := strings.Cut(line, " ")
		m[code] = strings.TrimSpace(name)
	}
	return m
}

// jedecMaker returns the memory maker a JEDEC manufacturer code names, and whether s was
// such a code of a maker in data/jedec.txt. It understands the spellings firmware uses:
// "80CE" (bank byte, then ID byte), "CE00" (the same, bytes swapped), "0x80CE", and the
// 8-byte SPD form "7F7F7F0B00000000" (one 0x7F per continuation, then the ID). Parity
// bits are not trusted: the code is matched on its low seven bits.
func jedecMaker(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	var bank, id byte
	switch len(b) {
	case 2:
		bank, id = b[0]&0x7F, b[1]&0x7F
		// JEP106 has fewer than 20 banks: a first byte beyond that is the ID, written
		// first ("CE00": Samsung in bank 1).
		if bank > 20 {
			bank, id = b[1]&0x7F, b[0]&0x7F
		}
	case 8:
		for bank < 8 && b[bank] == 0x7F {
			bank++
		}
		if bank == 8 {
			return "", false
		}
		id = b[bank] & 0x7F
		for _, c := range b[bank+1:] {
			if c != 0 {
				return "", false
			}
		}
	default:
		return "", false
	}
	if id == 0 {
		return "", false
	}
	name, ok := jedecMakers[fmt.Sprintf("%02X%02X", withParity(bank), withParity(id))]
	return name, ok
}

// withParity sets bit 7 of a seven-bit value so that the byte has an odd number of ones,
// as JEP106 writes its codes.
func withParity(v byte) byte {
	ones := 0
	for x := v; x != 0; x &= x - 1 {
		ones++
	}
	if ones%2 == 0 {
		return v | 0x80
	}
	return v
}
