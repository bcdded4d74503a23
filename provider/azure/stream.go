package azure

import (
	"io"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// stream is the OpenAI adapter's stream of one Azure answer with Azure's
// two repairs: chunks without choices or usage (the prompt-filter chunk
// Azure sends first, with an empty id and model) are dropped, and a stream
// that ends without a usage chunk gets one made from the usage counted so
// far. It lives for one request and is not safe for concurrent use.
type stream struct {
	provider.Stream
	a *Adapter
	// deployment names the model in a made-up usage chunk when the answer
	// named none.
	deployment string
	// chunks builds the made-up usage chunk; its id, created and model are
	// copied from the first chunk passed on.
	chunks   openaiwire.Chunks
	haveHead bool
	sawUsage bool
	ended    bool
}

var _ provider.Stream = (*stream)(nil)

func newStream(a *Adapter, req *provider.ChatRequest, s provider.Stream) *stream {
	return &stream{Stream: s, a: a, deployment: req.Model}
}

// Next implements provider.Stream.
func (s *stream) Next() (provider.Chunk, error) {
	for {
		if s.ended {
			return provider.Chunk{}, io.EOF
		}
		c, err := s.Stream.Next()
		switch {
		case err == io.EOF:
			s.ended = true
			if s.sawUsage {
				return provider.Chunk{}, io.EOF
			}
			return s.usageChunk(), nil
		case err != nil:
			// The stream is over; a later call must not add a usage chunk.
			s.ended = true
			return c, err
		case c.UsageOnly:
			s.sawUsage = true
			return c, nil
		}
		if s.keep(c.Data) {
			return c, nil
		}
	}
}

// keep reports whether a chunk says anything to an OpenAI client: it has
// at least one choice. The first kept chunk lends its id, created and
// model to a usage chunk the stream may have to make up.
func (s *stream) keep(data []byte) bool {
	if s.haveHead {
		return gjson.GetBytes(data, "choices.#").Int() > 0
	}
	f := gjson.GetManyBytes(data, "choices.#", "id", "created", "model")
	if f[0].Int() == 0 {
		return false
	}
	s.haveHead = true
	s.chunks.ID, s.chunks.Created, s.chunks.Model = f[1].String(), f[2].Int(), f[3].String()
	return true
}

// usageChunk is the usage chunk of a stream whose upstream sent none.
func (s *stream) usageChunk() provider.Chunk {
	if s.chunks.ID == "" {
		s.chunks.ID = s.a.newID()
	}
	if s.chunks.Created == 0 {
		s.chunks.Created = s.a.now().Unix()
	}
	if s.chunks.Model == "" {
		s.chunks.Model = s.deployment
	}
	return provider.Chunk{Data: s.chunks.Usage(s.Stream.Usage()), UsageOnly: true}
}
