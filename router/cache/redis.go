package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-gw/tollgate/provider"
)

// Redis is a Store in Redis, shared by every replica. Keys, under the
// prefix given to NewRedis:
//
//	PREFIX e:KEY     the entry: a JSON header line, then the body bytes
//	PREFIX m:MODEL   a SET of the entry keys stored for public model MODEL
//	PREFIX models    a SET of the public models that have entries
//
// Entries expire by Redis TTL (SET … PX). The index sets are only
// extended, never shortened (EXPIRE NX then EXPIRE GT, Redis 7), so they
// outlive their newest entry and then disappear; members whose entry has
// expired are cleaned up by Purge. Get is one command and Set one
// pipelined round trip. Every command names one key, so a cluster client
// works too (a pipeline is split per node). Needs Redis 7 or newer.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a Redis store using client, with every key under
// prefix (for example "tg:cache:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: client, prefix: prefix}
}

func (r *Redis) entryKey(key string) string   { return r.prefix + "e:" + key }
func (r *Redis) modelKey(model string) string { return r.prefix + "m:" + model }
func (r *Redis) modelsKey() string            { return r.prefix + "models" }

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) (*Entry, bool, error) {
	b, err := r.c.Get(ctx, r.entryKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache: redis get: %w", err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return nil, false, err
	}
	return e, true, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, e *Entry, ttl time.Duration) error {
	if ttl <= 0 {
		if err := r.c.Del(ctx, r.entryKey(key)).Err(); err != nil {
			return fmt.Errorf("cache: redis delete: %w", err)
		}
		return nil
	}
	val, err := encodeEntry(e)
	if err != nil {
		return err
	}
	idxTTL := ttl.Truncate(time.Second) + time.Second
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.entryKey(key), val, ttl)
		p.SAdd(ctx, r.modelKey(e.PublicModel), key)
		p.ExpireNX(ctx, r.modelKey(e.PublicModel), idxTTL)
		p.ExpireGT(ctx, r.modelKey(e.PublicModel), idxTTL)
		p.SAdd(ctx, r.modelsKey(), e.PublicModel)
		p.ExpireNX(ctx, r.modelsKey(), idxTTL)
		p.ExpireGT(ctx, r.modelsKey(), idxTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// Purge implements Store: it reads the model's index set and unlinks each
// entry, counting those that still existed. With model "" it does so for
// every model in the models set.
func (r *Redis) Purge(ctx context.Context, model string) (int, error) {
	models := []string{model}
	if model == "" {
		var err error
		if models, err = r.c.SMembers(ctx, r.modelsKey()).Result(); err != nil {
			return 0, fmt.Errorf("cache: redis purge: list models: %w", err)
		}
	}
	var total int
	for _, m := range models {
		n, err := r.purgeModel(ctx, m)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// purgeBatch is how many entries one purge pipeline removes.
const purgeBatch = 500

// purgeModel removes the entries indexed under one public model.
func (r *Redis) purgeModel(ctx context.Context, model string) (int, error) {
	keys, err := r.c.SMembers(ctx, r.modelKey(model)).Result()
	if err != nil {
		return 0, fmt.Errorf("cache: redis purge %q: %w", model, err)
	}
	var n int
	for len(keys) > 0 {
		batch := keys[:min(purgeBatch, len(keys))]
		keys = keys[len(batch):]
		cmds := make([]*redis.IntCmd, len(batch))
		members := make([]any, len(batch))
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range batch {
				cmds[i] = p.Unlink(ctx, r.entryKey(k))
				members[i] = k
			}
			p.SRem(ctx, r.modelKey(model), members...)
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("cache: redis purge %q: %w", model, err)
		}
		for _, c := range cmds {
			n += int(c.Val())
		}
	}
	return n, nil
}

// redisHeader is the first line of a stored entry; Body follows it.
type redisHeader struct {
	Model       string `json:"m,omitempty"`
	Provider    string `json:"p,omitempty"`
	PublicModel string `json:"pm,omitempty"`
	// Usage: prompt, completion, total, cached, cache write, reasoning,
	// estimated (0 or 1).
	Usage   [7]int `json:"u"`
	Created int64  `json:"t"` // Unix nanoseconds
}

// encodeEntry writes the header JSON, a newline, and the body.
func encodeEntry(e *Entry) ([]byte, error) {
	u := e.Usage
	h := redisHeader{Model: e.Model, Provider: e.Provider, PublicModel: e.PublicModel,
		Usage: [7]int{u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CachedTokens, u.CacheWriteTokens, u.ReasoningTokens, 0}}
	if u.Estimated {
		h.Usage[6] = 1
	}
	if !e.CreatedAt.IsZero() {
		h.Created = e.CreatedAt.UnixNano()
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("cache: encode entry: %w", err)
	}
	b = append(b, '\n')
	return append(b, e.Body...), nil
}

// decodeEntry reverses encodeEntry.
func decodeEntry(b []byte) (*Entry, error) {
	head, body, ok := bytes.Cut(b, []byte{'\n'})
	var h redisHeader
	if !ok {
		return nil, fmt.Errorf("cache: decode entry: no header line")
	}
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("cache: decode entry: %w", err)
	}
	u := h.Usage
	var created time.Time
	if h.Created != 0 {
		created = time.Unix(0, h.Created).UTC()
	}
	return &Entry{
		Body: body, Model: h.Model, Provider: h.Provider, PublicModel: h.PublicModel,
		CreatedAt: created,
		Usage: provider.Usage{PromptTokens: u[0], CompletionTokens: u[1], TotalTokens: u[2],
			CachedTokens: u[3], CacheWriteTokens: u[4], ReasoningTokens: u[5], Estimated: u[6] == 1},
	}, nil
}
