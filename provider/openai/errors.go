package openai

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// statusError turns an upstream answer with a non-200 status into a
// provider.Error. It understands the error bodies of the OpenAI-compatible
// zoo: OpenAI's envelope (string or numeric code), vLLM's flat form,
// Ollama's {"error": "text"}, and FastAPI's {"detail": …}.
func (a *Adapter) statusError(resp *http.Response, data []byte) *provider.Error {
	var e gjson.Result
	if len(data) > 0 && gjson.ValidBytes(data) {
		root := gjson.ParseBytes(data)
		if inner := root.Get("error"); inner.Exists() {
			e = inner
		} else {
			e = root
		}
	}
	return a.bodyError(resp.StatusCode, resp.Header, e)
}

// upstreamFields are the parts of an upstream error body.
type upstreamFields struct {
	message, typ, code, param string
}

// readFields extracts message, type, code and param from an error object.
func readFields(e gjson.Result) upstreamFields {
	var f upstreamFields
	switch {
	case e.Type == gjson.String:
		f.message = e.String()
	case e.IsObject():
		f.message = e.Get("message").String()
		f.typ = e.Get("type").String()
		if c := e.Get("code"); c.Type == gjson.String {
			f.code = c.String()
		}
		if p := e.Get("param"); p.Type == gjson.String {
			f.param = p.String()
		}
		if d := e.Get("detail"); f.message == "" && d.Exists() {
			f.message, f.param = detailMessage(d)
		}
	}
	return f
}

// detailMessage reads FastAPI's {"detail": "text"} or {"detail": [{"loc":
// [...], "msg": "..."}]}.
func detailMessage(d gjson.Result) (msg, param string) {
	if d.Type == gjson.String {
		return d.String(), ""
	}
	first := d.Get("0")
	msg = first.Get("msg").String()
	var loc []string
	for _, p := range first.Get("loc").Array() {
		if s := p.String(); s != "body" {
			loc = append(loc, s)
		}
	}
	return msg, strings.Join(loc, ".")
}

// bodyError classifies an upstream failure from its status and error
// object. Authentication failures never carry the upstream's text, which
// may quote part of the gateway's credential.
func (a *Adapter) bodyError(status int, h http.Header, e gjson.Result) *provider.Error {
	f := readFields(e)
	kind := provider.KindForStatus(status)
	if f.code == "insufficient_quota" || f.typ == "insufficient_quota" {
		kind = provider.KindQuota
	}
	var retryHint time.Duration
	if a.classify != nil {
		kind, retryHint = a.classify(ErrorInfo{Status: status, Header: h,
			Message: f.message, Type: f.typ, Code: f.code, Param: f.param}, kind)
	}
	pe := &provider.Error{
		Provider:   a.name,
		Kind:       kind,
		Status:     status,
		RetryAfter: provider.ParseRetryAfter(h, time.Now()),
	}
	if pe.RetryAfter == 0 {
		pe.RetryAfter = retryHint
	}
	switch kind {
	case provider.KindAuth:
		pe.Message = fmt.Sprintf("provider %q refused the gateway's credentials", a.name)
	case provider.KindInvalidRequest:
		pe.Message, pe.Type, pe.Code, pe.Param = f.message, f.typ, f.code, f.param
		if pe.Message == "" {
			pe.Message = fmt.Sprintf("provider %q rejected the request (status %d)", a.name, status)
		}
	default:
		pe.Message = fmt.Sprintf("provider %q failed (status %d)", a.name, status)
		if f.message != "" {
			pe.Message += ": " + f.message
		}
		pe.Code = f.code
	}
	return pe
}
