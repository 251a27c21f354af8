package notify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"tocsin/config"
)

// DefaultHTTPTimeout bounds one request of a client built by HTTPClient
// when it is given no timeout.
const DefaultHTTPTimeout = 10 * time.Second

// HTTPClient builds the one HTTP client a channel keeps for its lifetime,
// so connections to the provider are pooled and reused instead of opened
// (and leaked) per message, as Versus Incident does.
//
// The client:
//
//   - gives up on a request after timeout (DefaultHTTPTimeout when 0 or
//     less), dial and TLS handshake included;
//   - keeps up to 16 idle connections per host for 90 seconds;
//   - does not follow redirects: the providers' APIs do not redirect a POST,
//     and following one could carry a token in the URL to another host. The
//     3xx response is returned, and CheckResponse makes it permanent;
//   - goes through proxy when it is not nil: an http, https or socks5 (or
//     socks5h) URL, with proxy.Username and proxy.Password (or the URL's
//     own user info) as credentials: Proxy-Authorization for HTTP proxies,
//     username/password authentication for SOCKS5. With a nil proxy, the
//     standard HTTPS_PROXY/HTTP_PROXY/NO_PROXY environment applies, as for
//     any Go program.
//
// Errors name the key (proxy.url) and never contain the proxy's password.
func HTTPClient(timeout time.Duration, proxy *config.Proxy) (*http.Client, error) {
	client, tr, _ := newClient(timeout)
	if proxy != nil {
		u, err := proxyURL(proxy)
		if err != nil {
			return nil, err
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return client, nil
}

// newClient builds HTTPClient's client without a proxy block, returning
// its transport and dialer for the caller to adjust.
func newClient(timeout time.Duration) (*http.Client, *http.Transport, *net.Dialer) {
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	dialer := &net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(timeout, 10*time.Second),
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, tr, dialer
}

// proxyURL validates the proxy block and returns its URL with the
// configured credentials in it, as net/http expects them. Errors never
// echo the URL, which may hold a password.
func proxyURL(proxy *config.Proxy) (*url.URL, error) {
	if proxy == nil || proxy.URL == "" {
		return nil, errors.New("proxy.url: required when use_proxy is on")
	}
	u, err := url.Parse(proxy.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("proxy.url: must be an absolute http, https or socks5 URL")
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, errors.New("proxy.url: scheme must be http, https or socks5")
	}
	if proxy.Username != "" {
		u.User = url.UserPassword(proxy.Username, proxy.Password)
	}
	return u, nil
}

// ChannelClient returns the HTTP client of a channel named channel: given
// when the caller passed one, else a new tuned client with the timeout
// that, when useProxy is set, sends through the global proxy block (whose
// url is then required). Errors name the channel's use_proxy key.
func ChannelClient(channel string, given *http.Client, timeout time.Duration, useProxy bool, proxy *config.Proxy) (*http.Client, error) {
	if given != nil {
		return given, nil
	}
	var p *config.Proxy
	if useProxy {
		if p = proxy; p == nil {
			p = &config.Proxy{}
		}
	}
	client, err := HTTPClient(timeout, p)
	if err != nil {
		return nil, fmt.Errorf("alert.%s.use_proxy: %w", channel, err)
	}
	return client, nil
}
