package store_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// On PostgreSQL backup is pg_dump and restore pg_restore --clean: an
// incident acknowledged before the backup is back after the restore, one
// opened later is gone.
func TestPostgresBackupRestore(t *testing.T) {
	url := storetest.PostgresURL(t)
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump not installed")
	}
	ctx := context.Background()
	db := storetest.Open(t, url, store.Options{})
	res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("kept", "f", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Incidents().Acknowledge(ctx, res[0].IncidentID, tocsin.Actor{Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tocsin.dump")
	if err := store.Backup(ctx, url+"&password=hunter2", file); err != nil {
		t.Fatal(err)
	}
	later, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("later", "f", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := store.Restore(ctx, url, file); err != nil {
		t.Fatal(err)
	}
	db = storetest.Open(t, url, store.Options{})
	if inc, err := db.Incidents().FindIncident(ctx, res[0].IncidentID); err != nil || inc.Status != tocsin.StatusAcknowledged {
		t.Fatalf("restored: %v %v", inc, err)
	}
	if _, err := db.Incidents().FindIncident(ctx, later[0].IncidentID); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Fatalf("incident opened after the backup: %v", err)
	}
}
