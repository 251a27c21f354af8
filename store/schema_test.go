package store_test

import (
	"context"
	"strings"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// An older binary refuses a database a newer one migrated, saying why,
// instead of running on tables it does not know.
func TestNewerSchemaRefused(t *testing.T) {
	for _, k := range storetest.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			url := k.URL(t)
			db, err := store.Open(context.Background(), url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = store.Open(context.Background(), url, store.Options{})
			if tocsin.ErrorCode(err) != tocsin.ECONFLICT || !strings.Contains(err.Error(), "version 9999, newer than") {
				t.Fatalf("open a newer schema: %v", err)
			}
		})
	}
}
