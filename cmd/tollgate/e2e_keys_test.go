package main

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/tidwall/gjson"
)

// mockYAML serves the mock provider with a priced public model.
const mockYAML = `
providers:
  - name: mock
    type: mock
models:
  - name: priced
    targets: [{provider: mock, model: echo}]
    pricing: {input_per_mtok: 2.5, output_per_mtok: 10}
`

// chatAs sends a one-line chat request with key in header hdr.
func (g *gw) chatAs(t *testing.T, hdr, key, model string) (int, http.Header, gjson.Result) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hello there"}]}`))
	if key != "" {
		v := key
		if hdr == "Authorization" {
			v = "Bearer " + key
		}
		req.Header.Set(hdr, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, gjson.ParseBytes(b)
}

func TestE2EKeys(t *testing.T) {
	g := startGateway(t, mockYAML, nil)
	for _, hdr := range []string{"Authorization", "Api-Key", "X-Api-Key"} {
		if status, _, body := g.chatAs(t, hdr, g.key, "mock/echo"); status != 200 {
			t.Errorf("%s: %d %s", hdr, status, body.Raw)
		}
	}
	for name, key := range map[string]string{"missing": "", "unknown": "tg-not-a-real-key", "admin key": testAdminKey} {
		status, _, body := g.chatAs(t, "Authorization", key, "mock/echo")
		if status != 401 || body.Get("error.code").String() != "invalid_api_key" || body.Get("error.type").String() != "invalid_request_error" {
			t.Errorf("%s key: %d %s", name, status, body.Raw)
		}
	}

	// A key restricted to one model may use only that one.
	_, c := g.admin(t, http.MethodPost, "/admin/customers", `{"name":"narrow","tier":"enterprise"}`)
	_, k := g.admin(t, http.MethodPost, "/admin/keys", `{"customer_id":"`+c.Get("id").String()+`","models":["priced"]}`)
	narrow := k.Get("key").String()
	if status, _, body := g.chatAs(t, "Authorization", narrow, "mock/echo"); status != 403 || body.Get("error.code").String() != "model_not_allowed" {
		t.Errorf("not allowed: %d %s", status, body.Raw)
	}
	if status, _, _ := g.chatAs(t, "Authorization", narrow, "priced"); status != 200 {
		t.Errorf("allowed model: %d", status)
	}
	list, err := g.clientWith(narrow).ListModels(context.Background())
	if err != nil || len(list.Models) != 1 || list.Models[0].ID != "priced" {
		t.Errorf("models of a narrow key: %+v %v", list.Models, err)
	}

	// Revocation is seen at once here (and by other replicas at their
	// next poll, tested in the keyring package).
	status, _ := g.admin(t, http.MethodDelete, "/admin/keys/"+k.Get("id").String(), "")
	if status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if status, _, body := g.chatAs(t, "Authorization", narrow, "priced"); status != 401 || !strings.Contains(body.Get("error.message").String(), "revoked") {
		t.Errorf("revoked key: %d %s", status, body.Raw)
	}
	// Listing keys never shows the plaintext.
	_, keys := g.admin(t, http.MethodGet, "/admin/keys?customer_id="+c.Get("id").String(), "")
	if keys.Get("data.0.key").Exists() || keys.Get("data.0.prefix").String() != narrow[:8] {
		t.Errorf("key list %s", keys.Raw)
	}
}

// clientWith is a go-openai client using key.
func (g *gw) clientWith(key string) *goopenai.Client {
	cfg := goopenai.DefaultConfig(key)
	cfg.BaseURL = g.url + "/v1"
	return goopenai.NewClientWithConfig(cfg)
}

func TestE2ERateLimitExactUnderConcurrency(t *testing.T) {
	g := startGateway(t, mockYAML, nil)
	if status, tier := g.admin(t, http.MethodPost, "/admin/tiers", `{"name":"ten","rpm":10,"tpm":0}`); status != 201 {
		t.Fatalf("create tier: %d %s", status, tier.Raw)
	}
	key := g.newKey(t, "ten")
	// All 50 must fall in one minute window.
	if s := time.Now().Second(); s >= 55 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		limited  http.Header
		limBody  gjson.Result
		okHeader http.Header
	)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, h, body := g.chatAs(t, "Authorization", key, "mock/echo")
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status == 429 {
				limited, limBody = h, body
			} else {
				okHeader = h
			}
		}()
	}
	wg.Wait()
	if statuses[200] != 10 || statuses[429] != 40 {
		t.Fatalf("statuses %v: want exactly 10 admitted of 50", statuses)
	}
	if limBody.Get("error.code").String() != "rate_limit_exceeded" || limBody.Get("error.type").String() != "rate_limit_error" ||
		limited.Get("Retry-After") == "" {
		t.Errorf("429: %v %s", limited, limBody.Raw)
	}
	if okHeader.Get("X-Ratelimit-Limit-Requests") != "10" || okHeader.Get("X-Ratelimit-Reset-Requests") == "" ||
		okHeader.Get("X-Ratelimit-Remaining-Requests") == "" {
		t.Errorf("x-ratelimit headers: %v", okHeader)
	}
}

func TestE2EDailyQuotaAndBudget(t *testing.T) {
	g := startGateway(t, mockYAML, nil)
	g.admin(t, http.MethodPost, "/admin/tiers", `{"name":"daily","rpd":2}`)
	key := g.newKey(t, "daily")
	for i := range 3 {
		status, h, body := g.chatAs(t, "Authorization", key, "mock/echo")
		if i < 2 && status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body.Raw)
		}
		if i == 2 && (status != 429 || body.Get("error.code").String() != "insufficient_quota" ||
			body.Get("error.type").String() != "insufficient_quota" || h.Get("Retry-After") == "") {
			t.Errorf("over the daily quota: %d %v %s", status, h, body.Raw)
		}
	}
	// A budget of 0.0001 USD: "hello there" echoed costs about 20 tokens
	// at 2.5/10 USD per million, ~0.00009 USD a request.
	g.admin(t, http.MethodPost, "/admin/tiers", `{"name":"tiny","monthly_budget_usd":0.0001}`)
	key = g.newKey(t, "tiny")
	var refused bool
	for range 20 {
		status, _, body := g.chatAs(t, "Authorization", key, "priced")
		if status == 429 && body.Get("error.code").String() == "insufficient_quota" {
			refused = true
			break
		}
	}
	if !refused {
		t.Error("the monthly budget never refused")
	}
}

func TestE2EUsageAndExport(t *testing.T) {
	g := startGateway(t, mockYAML, nil)
	for range 3 {
		if status, _, _ := g.chatAs(t, "Authorization", g.key, "priced"); status != 200 {
			t.Fatal(status)
		}
	}
	if status, _, _ := g.chatAs(t, "Authorization", g.key, "mock/echo"); status != 200 {
		t.Fatal(status)
	}
	var rows []gjson.Result
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, res := g.admin(t, http.MethodGet, "/admin/usage?group_by=customer,model&granularity=day&from=2000-01-01&to=2100-01-01", "")
		rows = res.Get("data").Array()
		var n int64
		for _, r := range rows {
			n += r.Get("requests").Int()
		}
		if n == 4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	for _, r := range rows {
		if !r.Get("period_start").Exists() || !r.Get("customer_name").Exists() || r.Get("key_id").Exists() ||
			r.Get("total_tokens").Int() != r.Get("prompt_tokens").Int()+r.Get("completion_tokens").Int() {
			t.Errorf("row %s", r.Raw)
		}
		switch r.Get("model").String() {
		case "priced":
			// Three identical requests: one went upstream, two were
			// answered from the cache (metered, no upstream cost).
			if r.Get("requests").Int() != 3 || r.Get("cached_requests").Int() != 2 || r.Get("cost_usd").Float() <= 0 ||
				r.Get("unpriced_requests").Int() != 0 {
				t.Errorf("priced row %s", r.Raw)
			}
		case "mock/echo":
			if r.Get("cost_usd").Float() != 0 || r.Get("unpriced_requests").Int() != 1 {
				t.Errorf("unpriced row %s", r.Raw)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, g.url+"/admin/usage/export?format=csv&group_by=model&from=2000-01-01&to=2100-01-01", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %v %v", resp.Header, err)
	}
	if strings.Join(recs[0], ",") != "model,requests,cached_requests,prompt_tokens,completion_tokens,total_tokens,cost_usd" || len(recs) != 3 {
		t.Errorf("csv %v", recs)
	}
	for _, bad := range []string{"group_by=color", "granularity=week", "from=yesterday", "from=2026-02-01&to=2026-01-01"} {
		if status, body := g.admin(t, http.MethodGet, "/admin/usage?"+bad, ""); status != 400 || body.Get("error.param").String() == "" {
			t.Errorf("%s: %d %s", bad, status, body.Raw)
		}
	}
}

func TestE2EAdminAPI(t *testing.T) {
	g := startGateway(t, mockYAML, nil)
	_, tiers := g.admin(t, http.MethodGet, "/admin/tiers", "")
	names := map[string]gjson.Result{}
	for _, tr := range tiers.Get("data").Array() {
		names[tr.Get("name").String()] = tr
	}
	if f := names["free"]; f.Get("rpm").Int() != 10 || f.Get("rpd").Int() != 100 || f.Get("tpd").Int() != 100000 {
		t.Errorf("free tier %s", f.Raw)
	}
	if p := names["pro"]; p.Get("rpm").Int() != 600 || p.Get("rpd").Int() != 10000 || p.Get("tpd").Int() != 10000000 {
		t.Errorf("pro tier %s", p.Raw)
	}
	if e := names["enterprise"]; !e.Exists() || e.Get("rpm").Int() != 0 {
		t.Errorf("enterprise tier %s", e.Raw)
	}
	tests := []struct {
		method, path, body string
		status             int
		param              string
	}{
		{"POST", "/admin/tiers", `{"name":"gold","rpm":5,"monthly_budget_usd":12.5,"models":["priced"]}`, 201, ""},
		{"POST", "/admin/tiers", `{"name":"gold"}`, 409, ""},
		{"POST", "/admin/tiers", `{"name":"Bad Name"}`, 400, "name"},
		{"POST", "/admin/tiers", `{"name":"x","rpm":-1}`, 400, "rpm"},
		{"POST", "/admin/tiers", `{"name":"x","colour":"red"}`, 400, "colour"},
		{"PATCH", "/admin/tiers/gold", `{"rpm":7}`, 200, ""},
		{"GET", "/admin/tiers/nope", ``, 404, ""},
		{"POST", "/admin/customers", `{"name":"c"}`, 400, "tier"},
		{"POST", "/admin/customers", `{"name":"c","tier":"nope"}`, 400, "tier"},
		{"POST", "/admin/keys", `{"customer_id":"cus_nope"}`, 400, "customer_id"},
		{"DELETE", "/admin/keys/key_nope", ``, 404, ""},
	}
	for _, tc := range tests {
		status, body := g.admin(t, tc.method, tc.path, tc.body)
		if status != tc.status || body.Get("error.param").String() != tc.param {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, status, body.Raw)
		}
	}
	_, gold := g.admin(t, http.MethodGet, "/admin/tiers/gold", "")
	if gold.Get("rpm").Int() != 7 || gold.Get("monthly_budget_usd").Raw != "12.5" || gold.Get("models.0").String() != "priced" {
		t.Errorf("gold %s", gold.Raw)
	}
	// The admin API refuses anything but the admin key.
	req, _ := http.NewRequest(http.MethodGet, g.url+"/admin/tiers", nil)
	req.Header.Set("Authorization", "Bearer "+g.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("admin API with a client key: %d", resp.StatusCode)
	}
}

func TestE2EFirstStartPrintsKeysOnce(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"TOLLGATE_ADDR": "127.0.0.1:0", "TOLLGATE_DATA_DIR": dir, "TOLLGATE_LOG_FORMAT": "json"}
	startOnce := func() (addr string, logs string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var buf syncBuffer
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, &buf, ready) }()
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatalf("start: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		buf.mu.Lock()
		defer buf.mu.Unlock()
		return addr, buf.b.String()
	}
	_, first := startOnce()
	admin := gjson.Get(firstLine(first, "first start"), "admin_key").String()
	client := gjson.Get(firstLine(first, "first start"), "client_key").String()
	if !strings.HasPrefix(admin, "tga-") || !strings.HasPrefix(client, "tg-") {
		t.Fatalf("first start printed no keys:\n%s", first)
	}
	_, second := startOnce()
	if strings.Contains(second, admin) || strings.Contains(second, "first start") {
		t.Error("the keys were printed again")
	}
	// The printed keys work.
	g := &gw{url: "", key: client}
	env["TOLLGATE_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard, ready) }()
	g.url = "http://" + <-ready
	resp, err := g.client().CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "mock/echo", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
	if err != nil || resp.Header().Get("X-Ratelimit-Limit-Requests") != "10" {
		t.Errorf("starter key (free tier): %v %v", err, resp.Header())
	}
	status, _ := g.adminWith(t, admin)
	if status != 200 {
		t.Errorf("printed admin key: %d", status)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}

func (g *gw) adminWith(t *testing.T, key string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, g.url+"/admin/tiers", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// firstLine returns the first log line containing s.
func firstLine(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
