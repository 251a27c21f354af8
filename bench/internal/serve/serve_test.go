package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListen(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		wantErr    bool
	}{
		{"with an address file", filepath.Join(dir, "x.addr"), false},
		{"without one", "", false},
		{"an address file that cannot be written", filepath.Join(dir, "missing", "x.addr"), true},
	} {
		ln, err := Listen("127.0.0.1:0", tc.file)
		if tc.wantErr {
			if err == nil {
				ln.Close()
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.file != "" {
			b, err := os.ReadFile(tc.file)
			if err != nil || strings.TrimSpace(string(b)) != ln.Addr().String() || strings.HasSuffix(ln.Addr().String(), ":0") {
				t.Errorf("%s: file %q (%v), listening on %s", tc.name, b, err, ln.Addr())
			}
			if _, err := os.Stat(tc.file + ".tmp"); err == nil {
				t.Errorf("%s: the temporary file is left", tc.name)
			}
		}
		ln.Close()
	}
}
