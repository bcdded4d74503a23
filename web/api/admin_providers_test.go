package api

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/router"
	"github.com/tollgate-gw/tollgate/store/keyring"
	"github.com/tollgate-gw/tollgate/store/sqlite"
)

func TestAdminProviders(t *testing.T) {
	a := &scripted{chat: func(*provider.ChatRequest) (*provider.ChatResponse, error) {
		return nil, &provider.Error{Provider: "p", Kind: provider.KindInvalidRequest, Status: 400, Message: "bad"}
	}}
	tb, err := router.NewWithOptions([]*router.Provider{{Name: "p", Type: "openai", Adapter: a}},
		[]router.ModelSpec{{Name: "chat", Targets: []router.TargetSpec{{Provider: "p", Model: "m", Weight: 1}}}},
		router.Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The providers endpoint does not touch the store; the admin API only
	// insists on having one.
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s, err := New(Options{Router: tb, Meter: &metering.Meter{Ledger: &events{}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Admin:  &Admin{Store: st, Keyring: keyring.New(st, keyring.Options{}), KeyHash: sha256.Sum256([]byte("admin"))}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/admin/providers", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		s.ServeHTTP(w, r)
		return w
	}
	if w := get("wrong"); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", w.Code)
	}
	w := get("admin")
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	row := gjson.Get(w.Body.String(), "data.0")
	for path, want := range map[string]string{
		"provider": "p", "type": "openai", "model": "m", "public_models": `["chat"]`, "state": "closed",
		"requests": "0", "errors": "0", "error_rate": "0", "latency_ms": "0", "last_error": "null", "last_error_at": "null",
	} {
		if got := row.Get(path).Raw; got != want && row.Get(path).String() != want {
			t.Errorf("%s = %s, want %s (body %s)", path, got, want, w.Body)
		}
	}
	if n := gjson.Get(w.Body.String(), "data.#").Int(); n != 1 {
		t.Errorf("%d rows", n)
	}
}

func TestProviderHealthOutLastError(t *testing.T) {
	rows := providerHealthOut([]router.TargetHealth{{Provider: "p", Model: "m", State: router.StateOpen,
		Requests: 4, Errors: 3, ErrorRate: 0.75, LastError: "server (status 500): boom"}})
	r := rows[0]
	if r.LastError == nil || *r.LastError != "server (status 500): boom" || r.LastErrorAt == nil || r.State != "open" ||
		r.PublicModels == nil {
		t.Errorf("%+v", r)
	}
}
