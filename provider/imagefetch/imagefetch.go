// Package imagefetch downloads the images that clients reference by URL,
// for providers that accept only inline image data (Gemini, Bedrock).
//
// Fetching a URL a client chose is a server-side request forgery risk, so
// by default the fetcher refuses to connect to loopback, private,
// link-local, unspecified, multicast and carrier-grade NAT addresses. The
// check runs on the address actually dialled, so DNS rebinding and
// redirects to internal hosts are refused too. It also bounds the size,
// the time and the number of redirects, and accepts only images.
package imagefetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// Defaults for Options left zero.
const (
	DefaultMaxBytes     = 20 << 20
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 3
)

// ErrBlockedAddress is returned when the URL leads to an address the
// fetcher must not reach.
var ErrBlockedAddress = errors.New("imagefetch: address not allowed")

// Options tune a Fetcher; the zero value is the safe default.
type Options struct {
	// MaxBytes bounds an image; zero means DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds one fetch, redirects included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// AllowPrivate permits loopback and private addresses (for tests and
	// gateways whose images live on an internal network).
	AllowPrivate bool
}

// Fetcher downloads images. It is safe for concurrent use.
type Fetcher struct {
	client   *http.Client
	maxBytes int64
	timeout  time.Duration
}

var _ provider.ImageFetcher = (*Fetcher)(nil)

// New builds a fetcher with its own guarded transport.
func New(o Options) *Fetcher {
	f := &Fetcher{maxBytes: o.MaxBytes, timeout: o.Timeout}
	if f.maxBytes <= 0 {
		f.maxBytes = DefaultMaxBytes
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = refusePrivate
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would hide the address the guard must see
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > DefaultMaxRedirects {
				return errors.New("imagefetch: too many redirects")
			}
			return checkScheme(req.URL)
		},
	}
	return f
}

// FetchImage implements provider.ImageFetcher.
func (f *Fetcher) FetchImage(ctx context.Context, rawURL string) (string, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("imagefetch: parse url: %w", err)
	}
	if err := checkScheme(u); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, fmt.Errorf("imagefetch: build request: %w", err)
	}
	req.Header.Set("Accept", "image/*")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("imagefetch: get %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("imagefetch: get %s: status %d", u.Redacted(), resp.StatusCode)
	}
	data, err := provider.ReadAll(resp.Body, resp.ContentLength, f.maxBytes)
	if err != nil {
		return "", nil, fmt.Errorf("imagefetch: read %s: %w", u.Redacted(), err)
	}
	mt := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(strings.ToLower(mt))
	if !strings.HasPrefix(mt, "image/") {
		mt = http.DetectContentType(data)
	}
	if !strings.HasPrefix(mt, "image/") {
		return "", nil, fmt.Errorf("imagefetch: %s is not an image (%s)", u.Redacted(), mt)
	}
	return mt, data, nil
}

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("imagefetch: scheme %q not allowed (want http or https)", u.Scheme)
	}
	return nil
}

// cgnat is 100.64.0.0/10, shared address space that netip does not call
// private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// refusePrivate is a dialer Control hook: it runs on the resolved address
// just before connecting.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ip)
	}
	return nil
}
