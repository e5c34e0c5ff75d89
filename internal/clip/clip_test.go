package clip

import "testing"

func TestString(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
		cut  bool
	}{
		{"refund", 6, "refund", false},
		{"refunds", 6, "refund…", true},
		{"aé", 2, "a…", true}, // é is two bytes: not split
		{"aé", 3, "aé", false},
		{"a\xffb", 8, "a\uFFFDb", false},
		{"", 0, "", false},
	} {
		if got, cut := String(c.in, c.max); got != c.want || cut != c.cut {
			t.Errorf("String(%q, %d) = %q, %v; want %q, %v", c.in, c.max, got, cut, c.want, c.cut)
		}
	}
}
