package notify

import (
	"net/http"
	"time"

	"tocsin/netguard"
)

// GuardedHTTPClient is HTTPClient for targets a user typed in (a contact's
// webhook URL): every connection it makes is checked by guard after DNS
// resolution, so a name resolving to loopback, link-local or a private
// network is refused when it is dialled, whatever the URL looked like
// when it was saved. A nil guard allows public addresses only.
//
// It never goes through a proxy, not even one from HTTPS_PROXY: the guard
// would then see the proxy's address instead of the target's. Redirects
// are not followed (as with HTTPClient), so a public server cannot bounce
// the request inside. A refused connection fails with a
// *netguard.BlockedError, which Classify makes permanent.
func GuardedHTTPClient(timeout time.Duration, guard *netguard.Guard) *http.Client {
	if guard == nil {
		guard = &netguard.Guard{}
	}
	client, tr, dialer := newClient(timeout)
	tr.Proxy = nil
	dialer.Control = guard.Control
	return client
}
