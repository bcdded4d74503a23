package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/router/cache"
)

// Example shows how the HTTP layer answers a chat completion through the
// cache: directives from the headers, the key from the body, the public
// model and the scope, then Do with the upstream call as fn.
func Example() {
	c := &cache.Cache{Store: cache.NewMemory(64 << 20), TTL: time.Hour}
	body := []byte(`{"model":"chat-default","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	header := http.Header{}

	d, err := cache.ParseDirectives(header) // a 400 naming the header on error
	if err != nil {
		panic(err)
	}
	key, err := cache.Key(body, "chat-default", cache.ScopeID(cache.ScopeCustomer, "cust_1", "key_1"))
	if err != nil {
		panic(err)
	}
	upstream := func() (*cache.Entry, error) {
		// Call the router; for a stream, write each chunk to the client and
		// feed it to an Assembler, then return Assembler.Entry(stream.Usage()).
		resp := &provider.ChatResponse{Body: []byte(`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}]}`), Model: "gpt-4o-mini"}
		return cache.FromResponse(resp, "openai", "chat-default", time.Now()), nil
	}
	for range 2 {
		r, err := c.Do(context.Background(), key, d, upstream)
		if err != nil {
			panic(err)
		}
		fmt.Println(cache.HeaderCache+":", r.Status, "fresh:", r.Fresh)
		if !r.Fresh { // not yet sent: replay it as the client's stream
			chunks, _ := cache.Replay(r.Entry, true)
			fmt.Println(len(chunks), "chunks replayed")
		}
	}
	// Output:
	// X-Tollgate-Cache: MISS fresh: true
	// X-Tollgate-Cache: HIT fresh: false
	// 4 chunks replayed
}
