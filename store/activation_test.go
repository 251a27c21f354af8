package store_test

import (
	"context"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// Issue 9 defect 7: re-sending an activation code is limited and does not
// reset the wrong-attempt counter; the codes sent count toward the
// number's hourly page limit.
func TestActivationResendLimits(t *testing.T) {
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
			db := storetest.Open(t, dbURL(t), store.Options{Now: clock.Now})
			if _, err := db.OnCall().PutContact(ctx, &tocsin.Contact{Alias: "lu", Name: "Lu", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001040"}}}); err != nil {
				t.Fatal(err)
			}
			code, err := db.OnCall().StartActivation(ctx, "lu", "m")
			if err != nil {
				t.Fatal(err)
			}
			for range store.ActivationAttempts - 1 {
				if err := db.OnCall().Activate(ctx, "lu", "m", "000000x"); tocsin.ErrorCode(err) != tocsin.EINVALID {
					t.Fatalf("wrong code: %v", err)
				}
			}
			// A re-send does not give the guesser a fresh set of attempts.
			if code, err = db.OnCall().StartActivation(ctx, "lu", "m"); err != nil {
				t.Fatal(err)
			}
			db.OnCall().Activate(ctx, "lu", "m", "000000x")
			if err := db.OnCall().Activate(ctx, "lu", "m", code); tocsin.ErrorCode(err) != tocsin.EFORBIDDEN {
				t.Fatalf("right code after %d wrong ones across a re-send: %v", store.ActivationAttempts, err)
			}
			// Re-sends are limited per hour.
			for i := 2; i < store.ActivationSends; i++ {
				if _, err := db.OnCall().StartActivation(ctx, "lu", "m"); err != nil {
					t.Fatalf("send %d: %v", i+1, err)
				}
			}
			if _, err := db.OnCall().StartActivation(ctx, "lu", "m"); tocsin.ErrorCode(err) != tocsin.EFORBIDDEN {
				t.Fatalf("send %d in an hour: %v", store.ActivationSends+1, err)
			}
			// An hour later: a new code, a fresh count, and it activates.
			clock.Add(time.Hour)
			if code, err = db.OnCall().StartActivation(ctx, "lu", "m"); err != nil {
				t.Fatal(err)
			}
			if err := db.OnCall().Activate(ctx, "lu", "m", code); err != nil {
				t.Fatalf("activate in a new hour: %v", err)
			}
		})
	}
}
