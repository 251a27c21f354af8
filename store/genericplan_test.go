package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// TestGenericPlansUseIndexes: PostgreSQL plans a prepared statement for
// any parameters (a generic plan) after a few executions and keeps that
// plan until the table's statistics change. Made while a table is a page
// — a quiet system's outbox, vacuumed — the plan reads the page from
// start to end, and keeps doing so when a storm fills the table with
// 20,000 jobs: every claim and completion then reads all of them, until
// autovacuum's next analysis, a minute or more later. Open runs tocsin's
// sessions with enable_seqscan off (and jit off) so that every hot statement's plan
// goes through an index, whatever the table's size when it was made. The
// test makes that worst case — each table a page, vacuumed and analysed —
// and reads each hot statement's generic plan.
func TestGenericPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Epoch)
	db := storetest.Open(t, storetest.PostgresURL(t), store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	for i := range 3 {
		res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{storetest.NewAlert(fmt.Sprintf("g%d", i), "a1", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO jobs (id, kind, lane, incident_id, due_at, created_at) VALUES ($1, 'notify', 'webhook', $2, 0, 0)`,
			fmt.Sprint("job-", i), res[0].IncidentID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, 'webhook', 'r')`, res[0].IncidentID); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tbl := range []string{"incidents", "alerts", "payloads", "timeline", "jobs", "channel_refs"} {
		if _, err := conn.ExecContext(ctx, "VACUUM ANALYZE "+tbl); err != nil {
			t.Fatal(err)
		}
	}
	// JIT compiling is off too: it cost 20–50 ms a run on reads whose
	// estimated cost passed jit_above_cost.
	var jit string
	if err := conn.QueryRowContext(ctx, "SHOW jit").Scan(&jit); err != nil || jit != "off" {
		t.Fatalf("jit is %q (%v); tocsin's sessions run without it", jit, err)
	}
	if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	scan := regexp.MustCompile(`Seq Scan on (incidents|alerts|payloads|timeline|jobs|channel_refs)\b`)
	param := regexp.MustCompile(`\$(\d+)`)
	n := 0
	for name, q := range store.HotStatements(db) {
		n++
		params := 0
		for _, m := range param.FindAllStringSubmatch(q, -1) {
			k, _ := strconv.Atoi(m[1])
			params = max(params, k)
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PREPARE hot%d AS %s", n, q)); err != nil {
			t.Fatalf("%s: prepare: %v", name, err)
		}
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("EXPLAIN EXECUTE hot%d(%s)", n, strings.TrimSuffix(strings.Repeat("NULL,", params), ",")))
		if err != nil {
			t.Fatalf("%s: explain: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if text := strings.Join(plan, "\n"); scan.MatchString(text) {
			t.Errorf("%s: the generic plan made for one-page tables reads a whole table (%s):\n%s", name, scan.FindString(text), text)
		}
	}
}
