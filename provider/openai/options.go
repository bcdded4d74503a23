package openai

import (
	"net/http"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// Options adapt the adapter to a service that speaks OpenAI's wire format
// but differs in where requests go, how the credential is sent, which
// fields it accepts, or how its errors read (Azure OpenAI). Every field is
// optional; the zero value behaves exactly as New.
type Options struct {
	// ChatURL returns the chat completions URL for an upstream model (for
	// Azure, the deployment). Nil means the base URL + "/chat/completions".
	ChatURL func(model string) string
	// EmbeddingsURL returns the embeddings URL for an upstream model. Nil
	// means the base URL + "/embeddings".
	EmbeddingsURL func(model string) string
	// AuthHeader names the header that carries the API key as it is (Azure:
	// "api-key"). Empty means "Authorization: Bearer <key>".
	AuthHeader string
	// EditChat edits the upstream chat body after the adapter's own edits
	// (model replaced, include_usage forced for streams, renames). body is
	// the adapter's private copy; EditChat returns the body to send, or an
	// error that fails the request before anything is sent (a
	// *provider.Error to refuse a field). It must not modify req.Body.
	EditChat func(req *provider.ChatRequest, body []byte, stream bool) ([]byte, error)
	// Classify refines the classification of an upstream error answer: it
	// gets what the answer said and the kind the adapter chose, and returns
	// the kind to use and a retry delay for when the headers carry none
	// (zero for none). The message the client sees is built from the
	// returned kind, so an authentication failure never carries upstream
	// text.
	Classify func(e ErrorInfo, kind provider.Kind) (provider.Kind, time.Duration)
}

// ErrorInfo is what an upstream error answer said, for Options.Classify.
type ErrorInfo struct {
	// Status is the HTTP status (500 for an error inside a stream that
	// names none).
	Status int
	// Header is the answer's header; nil for an error inside a stream.
	Header http.Header
	// Message, Type, Code and Param are the error object's fields; a
	// numeric code is left empty.
	Message, Type, Code, Param string
}
