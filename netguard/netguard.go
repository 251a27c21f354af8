// Package netguard decides which addresses tocsin may connect to on behalf
// of a user: the webhook URL of a contact channel is typed in by whoever
// holds an API token, and without a guard it lets them make tocsin POST to
// its own loopback, the cloud metadata service (169.254.169.254) or the
// private network it runs in (server-side request forgery).
//
// A Guard refuses loopback, link-local, private (RFC 1918, fc00::/7),
// unspecified, multicast, CGNAT (100.64.0.0/10) and reserved addresses,
// IPv4-mapped IPv6 forms included, unless the operator allowed the
// network. Guard.Control checks the address a connection is actually made
// to, after DNS resolution, so a name that resolves (or is rebound) to an
// internal address is caught; Guard.CheckURL checks the URL's text, so a
// literal address or "localhost" is refused when the URL is saved.
//
// The package imports the standard library only.
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// blockedNetworks are the ranges a user-supplied target may not reach,
// beyond what netip.Addr's predicates already name, each with why.
var blockedNetworks = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this network\" address (0.0.0.0/8)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address (192.0.0.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address (240.0.0.0/4)"},
	// IPv4-compatible IPv6 (deprecated) and NAT64 addresses embed an IPv4
	// address that a translator may deliver to the internal network.
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible IPv6 address (::/96)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address (64:ff9b::/96)"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address (fec0::/10)"},
}

// Reason says why a is not a public unicast address ("a loopback
// address", …), or returns "" when a may be reached. IPv4-mapped IPv6
// addresses (::ffff:127.0.0.1) are judged as the IPv4 address they carry,
// and an invalid address is refused.
func Reason(a netip.Addr) string {
	if !a.IsValid() {
		return "not a valid IP address"
	}
	a = a.WithZone("").Unmap()
	switch {
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast():
		return "a link-local address (cloud metadata services live here)"
	case a.IsInterfaceLocalMulticast(), a.IsLinkLocalMulticast(), a.IsMulticast():
		return "a multicast address"
	case a.IsPrivate():
		return "a private address"
	}
	for _, b := range blockedNetworks {
		if b.prefix.Contains(a) {
			return b.reason
		}
	}
	return ""
}

// BlockedError is the error of a refused address. Delivery code treats it
// as permanent: retrying cannot make the address acceptable.
type BlockedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s is %s, which user-supplied webhook targets may not reach unless paging.webhook_allowed_networks allows it", e.Addr, e.Reason)
}

// Guard is the address policy for user-supplied targets. The zero value
// allows only public unicast addresses.
type Guard struct {
	// Allowed are networks the operator permits although Reason refuses
	// them (paging.webhook_allowed_networks), e.g. 10.0.0.0/8.
	Allowed []netip.Prefix
}

// New returns a Guard allowing the networks, given in CIDR notation
// ("10.0.0.0/8", "fd00::/8"). An error names the index of the entry.
func New(networks []string) (*Guard, error) {
	g := &Guard{}
	for i, s := range networks {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("[%d]: %q is not a network in CIDR notation like 10.0.0.0/8 or fd00::/8", i, s)
		}
		// An IPv4-mapped prefix means the IPv4 network: addresses are
		// unmapped before they are matched.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.Allowed = append(g.Allowed, p.Masked())
	}
	return g, nil
}

// Check returns a *BlockedError when a may not be reached.
func (g *Guard) Check(a netip.Addr) error {
	reason := Reason(a)
	if reason == "" {
		return nil
	}
	plain := a.WithZone("").Unmap()
	if g != nil {
		for _, p := range g.Allowed {
			if p.Contains(plain) {
				return nil
			}
		}
	}
	return &BlockedError{Addr: plain, Reason: reason}
}

// Control is a net.Dialer Control function: it runs after the name was
// resolved, just before each connection attempt, and refuses the attempt
// when the address it is about to reach is blocked. address is "ip:port".
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: only IP networks are dialled by an HTTP client.
		return fmt.Errorf("check %s address %q: %w", network, address, err)
	}
	return g.Check(ap.Addr())
}

// CheckURL checks what the text of a URL already shows: a host that is a
// literal IP address in a blocked range, or localhost (and names under
// .localhost, which resolve to loopback). Other names are left to Control,
// when the connection is made. Errors never echo the URL, which may hold a
// secret; a URL that does not parse is refused.
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		// localhost is loopback on both families: it is allowed only when
		// the operator allowed loopback.
		if err := g.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
			return fmt.Errorf("host %s is loopback, which user-supplied webhook targets may not reach unless paging.webhook_allowed_networks allows it", host)
		}
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return g.Check(a)
}
