package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"tocsin"
	"tocsin/apptest"
	"tocsin/store"
	"tocsin/store/storetest"
)

// A backup taken while alerts are ingested and acknowledged holds every
// incident acknowledged before it started; restore refuses while the
// server runs, and afterwards the restored database has them all.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	dbURL := storetest.SQLiteURL(t)
	ts := apptest.Start(t, dbURL, nil)
	backup := filepath.Join(t.TempDir(), "backup.db")

	var mu sync.Mutex
	var acked []string // acknowledged (2xx answered), in order
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, fmt.Sprintf(`{"title":"load %d","dedup_key":"load-%d"}`, i, i))
			if status >= 300 {
				t.Errorf("ingest %d: %d %v", i, status, body)
				return
			}
			ids, _ := body["incident_ids"].([]any)
			if len(ids) != 1 {
				t.Errorf("ingest %d: %v", i, body)
				return
			}
			id, _ := ids[0].(string)
			if status, _ := ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, ""); status != http.StatusOK {
				t.Errorf("ack %s: %d", id, status)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	apptest.Eventually(t, "some acknowledged incidents", func() bool { return count() >= 20 })
	before := count() // acknowledged before the backup started
	out, err := runCLI(t, nil, "backup", "--database", dbURL, "--to", backup)
	if err != nil || !strings.Contains(out, "written to "+backup) {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	apptest.Eventually(t, "load after the backup", func() bool { return count() >= before+10 })
	close(stop)
	<-done
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	if _, err := runCLI(t, nil, "backup", "--database", dbURL, "--to", backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}

	if _, err := runCLI(t, nil, "restore", "--database", dbURL, "--from", backup); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore while the server runs: %v", err)
	}
	ts.App.Close()
	if out, err := runCLI(t, nil, "restore", "--database", dbURL, "--from", backup); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	db := storetest.Open(t, dbURL, store.Options{})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range acked[:before] {
		inc, err := db.Incidents().FindIncident(context.Background(), id)
		if err != nil || inc.Status != tocsin.StatusAcknowledged {
			t.Errorf("restored incident %s: %v %v", id, inc, err)
		}
	}
	// The restored database is the backup's, not the one it replaced.
	if _, err := db.Incidents().FindIncident(context.Background(), acked[len(acked)-1]); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Errorf("an incident acknowledged after the backup is in the restored database: %v", err)
	}
}

// A file that is not a tocsin database is refused, and the database stays.
func TestRestoreRefusesJunk(t *testing.T) {
	dbURL := storetest.SQLiteURL(t)
	storetest.Open(t, dbURL, store.Options{}).Close()
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o600)
	if _, err := runCLI(t, nil, "restore", "--database", dbURL, "--from", junk); err == nil {
		t.Fatal("junk restored")
	}
	if _, err := os.Stat(strings.TrimPrefix(dbURL, "sqlite://")); err != nil {
		t.Fatalf("the database is gone: %v", err)
	}
}
