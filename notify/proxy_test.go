package notify_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/notify"
)

func TestHTTPClientHTTPProxy(t *testing.T) {
	var (
		mu         sync.Mutex
		host, auth string
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		host, auth = r.Host, r.Header.Get("Proxy-Authorization")
		mu.Unlock()
		io.WriteString(w, "via proxy")
	}))
	defer proxy.Close()
	client, err := notify.HTTPClient(time.Second, &config.Proxy{URL: proxy.URL, Username: "u", Password: "p@ss"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get("http://provider.test/api")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if string(body) != "via proxy" || host != "provider.test" ||
		auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("u:p@ss")) {
		t.Errorf("body %q, proxy saw host %q auth %q", body, host, auth)
	}
}

func TestHTTPClientSOCKS5Proxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "target")
	}))
	defer target.Close()
	socks := startSOCKS5(t, "u", "secret-pw")
	client, err := notify.HTTPClient(time.Second, &config.Proxy{URL: "socks5://" + socks.addr, Username: "u", Password: "secret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "target" || socks.count() != 1 {
		t.Errorf("body %q, socks5 connections %d", body, socks.count())
	}

	// Wrong credentials fail, and the error does not show the password.
	client, _ = notify.HTTPClient(time.Second, &config.Proxy{URL: "socks5://" + socks.addr, Username: "u", Password: "wrong-pw"})
	if _, err := client.Get(target.URL); err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("bad credentials: err = %v", err)
	}
}

func TestHTTPClientDoesNotFollowRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			t.Error("redirect followed")
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	client, err := notify.HTTPClient(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if client.Timeout != notify.DefaultHTTPTimeout {
		t.Errorf("timeout = %v", client.Timeout)
	}
	resp, err := client.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status = %d", resp.StatusCode)
	}
}

func TestHTTPClientBadProxy(t *testing.T) {
	for _, p := range []*config.Proxy{
		{},
		{URL: "ftp://user:pw-s3cret@proxy:21"},
		{URL: "http://user:pw-s3cret@"},
		{URL: "://pw-s3cret"},
	} {
		_, err := notify.HTTPClient(time.Second, p)
		if err == nil || !strings.HasPrefix(err.Error(), "proxy.url: ") || strings.Contains(err.Error(), "pw-s3cret") {
			t.Errorf("HTTPClient(%q) error = %v", p.URL, err)
		}
	}
}

// socks5 is a minimal SOCKS5 server (RFC 1928, username/password auth
// from RFC 1929, CONNECT only) for the proxy tests.
type socks5 struct {
	addr  string
	mu    sync.Mutex
	conns int
}

func (s *socks5) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func startSOCKS5(t *testing.T, user, pass string) *socks5 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &socks5{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Its errors show in the client's; logging them here
				// could outlive the test.
				_ = s.serve(c, user, pass)
			}()
		}
	}()
	return s
}

func (s *socks5) serve(c net.Conn, user, pass string) error {
	buf := make([]byte, 262)
	// Greeting: VER NMETHODS METHODS; we want method 2 (username/password).
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return errors.New("bad greeting")
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return err
	}
	c.Write([]byte{5, 2})
	// RFC 1929: VER ULEN UNAME PLEN PASSWD.
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return err
	}
	u := make([]byte, buf[1])
	io.ReadFull(c, u)
	io.ReadFull(c, buf[:1])
	p := make([]byte, buf[0])
	io.ReadFull(c, p)
	if string(u) != user || string(p) != pass {
		c.Write([]byte{1, 1})
		return errors.New("bad credentials")
	}
	c.Write([]byte{1, 0})
	// Request: VER CMD RSV ATYP DST.ADDR DST.PORT.
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
		return errors.New("not CONNECT")
	}
	var host string
	switch buf[3] {
	case 1:
		io.ReadFull(c, buf[:4])
		host = net.IP(buf[:4]).String()
	case 3:
		io.ReadFull(c, buf[:1])
		n := int(buf[0])
		io.ReadFull(c, buf[:n])
		host = string(buf[:n])
	default:
		return fmt.Errorf("address type %d", buf[3])
	}
	io.ReadFull(c, buf[:2])
	port := binary.BigEndian.Uint16(buf[:2])
	dst, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		c.Write([]byte{5, 1, 0, 1, 0, 0, 0, 0, 0, 0})
		return err
	}
	defer dst.Close()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	go io.Copy(dst, c)
	_, err = io.Copy(c, dst)
	return err
}
