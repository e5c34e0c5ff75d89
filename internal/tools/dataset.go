package tools

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

//go:embed data/*.csv
var data embed.FS

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// readCSV parses an embedded CSV file into records keyed by header names.
func readCSV(name string) []map[string]string {
	b, err := data.ReadFile("data/" + name)
	if err != nil {
		panic(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		panic(fmt.Sprintf("data/%s: %v", name, err))
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// cents parses a decimal amount with two places into cents.
func cents(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt((frac + "00")[:2], 10, 64)
	if err1 != nil || err2 != nil {
		panic(fmt.Sprintf("bad amount %q", s))
	}
	return w*100 + f
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad integer %q", s))
	}
	return n
}

// money formats cents as 1,234,567.89.
func money(c int64) string {
	neg := c < 0
	if neg {
		c = -c
	}
	s := strconv.FormatInt(c/100, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	fmt.Fprintf(&b, ".%02d", c%100)
	return b.String()
}

// amount turns cents into a JSON number of currency units.
func amount(c int64) float64 { return float64(c) / 100 }

func prevMonth(m string) string {
	y, _ := strconv.Atoi(m[:4])
	mo, _ := strconv.Atoi(m[5:])
	mo--
	if mo == 0 {
		y, mo = y-1, 12
	}
	return fmt.Sprintf("%04d-%02d", y, mo)
}
