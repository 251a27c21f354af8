package wire

import "testing"

func TestID(t *testing.T) {
	id := ID("ab-cd12", 42)
	if id != "ab-cd12-42" {
		t.Fatalf("ID = %q", id)
	}
	if got := string(AppendID([]byte("x"), "ab-cd12", 42)); got != "x"+id {
		t.Fatalf("AppendID = %q", got)
	}
	run, seq, ok := ParseID(id)
	if !ok || run != "ab-cd12" || seq != 42 {
		t.Fatalf("ParseID = %q %d %v", run, seq, ok)
	}
	for _, bad := range []string{"", "-1", "abc", "abc-", "abc-x", "abc-+1", "abc-1 "} {
		if _, _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) ok", bad)
		}
	}
}
