package store

// HotStatements are the PostgreSQL statements tocsin runs per alert, per
// job or per claim: each must read the tables it names through an index
// whatever their size, because its plan is made once for any parameters
// (see TestGenericPlansUseIndexes).
func HotStatements(db *DB) map[string]string {
	s := db.Jobs()
	return map[string]string{
		"find by key":          byKey,
		"find by dedupe":       byDedupe,
		"find by legacy key":   byKeyOrLegacy,
		"find alert":           alertByFingerprint,
		"open guessed":         guardedText([len(heldTables)]int{1, 1, 1, 2, 1, 0}),
		"due lanes":            dueLanesQuery,
		"next due":             nextDueQuery,
		"due jobs":             dueJobsQuery(501),
		"claim":                s.claimQuery("", 8),
		"lock incident":        lockIncidentQuery,
		"delete job":           deleteJobQuery,
		"load delivery":        loadDeliveryQuery,
		"load deliveries":      loadDeliveriesPostgres,
		"complete plain batch": completePlainQuery,
	}
}
