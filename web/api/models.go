package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// modelObject is one entry of OpenAI's model list.
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ownerOf says who serves a model: the provider of a "provider/model"
// address, else the gateway.
func ownerOf(id string, direct bool) string {
	if direct {
		name, _, _ := strings.Cut(id, "/")
		return name
	}
	return "tollgate"
}

// listModels serves GET /v1/models: the public models, then the
// "provider/model" names the providers know without a network call.
func (s *Server) listModels(c echo.Context, st *reqState) error {
	principal, err := s.authenticate(c, st)
	if err != nil {
		return err
	}
	names := s.router.Models()
	data := make([]modelObject, 0, len(names))
	for _, id := range names {
		if principal != nil && !principal.Allows(id) {
			continue
		}
		r, ok := s.router.Resolve(id)
		data = append(data, modelObject{ID: id, Object: "model", Created: s.started, OwnedBy: ownerOf(id, ok && r.Direct)})
	}
	return c.JSON(http.StatusOK, struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", data})
}

// getModel serves GET /v1/models/{id}; the id may contain a slash.
func (s *Server) getModel(c echo.Context, st *reqState) error {
	principal, err := s.authenticate(c, st)
	if err != nil {
		return err
	}
	id := c.Param("*")
	st.model = id
	r, err := s.resolve(principal, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, modelObject{ID: id, Object: "model", Created: s.started, OwnedBy: ownerOf(id, r.Direct)})
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(c echo.Context, st *reqState) error {
	principal, err := s.authenticate(c, st)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	model, perr := parseEmbeddings(body)
	if perr != nil {
		return perr
	}
	st.model, st.endpoint = model, "embeddings"
	route, err := s.resolve(principal, model)
	if err != nil {
		return err
	}
	if err := s.admit(c, st, principal, model, body); err != nil {
		return err
	}
	resp, res, err := s.router.Embeddings(c.Request().Context(), route, &provider.EmbeddingsRequest{Body: body})
	if err != nil {
		return s.fail(c, st, route, res, err)
	}
	return s.answer(c, st, res, resp.Body, resp.Model, &resp.Usage)
}

// parseEmbeddings checks an embeddings request and returns its model.
func parseEmbeddings(body []byte) (string, *Error) {
	root, e := parseObject(body)
	if e != nil {
		return "", e
	}
	model := root.Get("model")
	if model.Type != gjson.String || model.Str == "" {
		return "", invalid("model", "missing_required_parameter", "You must provide a model parameter.")
	}
	input := root.Get("input")
	switch {
	case !input.Exists() || input.Type == gjson.Null:
		return "", invalid("input", "missing_required_parameter", "Missing required parameter: 'input'.")
	case input.Type == gjson.String:
	case input.IsArray():
		n := 0
		var err *Error
		input.ForEach(func(_, v gjson.Result) bool {
			if v.Type != gjson.String && v.Type != gjson.Number && !v.IsArray() {
				err = invalid("input", "invalid_type", "Invalid type for 'input': expected a string, an array of strings, or an array of token arrays.")
			}
			n++
			return err == nil
		})
		if err != nil {
			return "", err
		}
		if n == 0 || n > 2048 {
			return "", invalid("input", "invalid_value", "Invalid 'input': expected an array of 1 to 2048 items.")
		}
	default:
		return "", invalid("input", "invalid_type", "Invalid type for 'input': expected a string or an array.")
	}
	if f := root.Get("encoding_format"); f.Exists() && f.Str != "float" && f.Str != "base64" {
		return "", invalid("encoding_format", "invalid_value", "Invalid value for 'encoding_format': supported values are 'float' and 'base64'.")
	}
	if d := root.Get("dimensions"); d.Exists() {
		if _, err := wantInt("dimensions", d, 1, 1<<20); err != nil {
			return "", err
		}
	}
	return string([]byte(model.Str)), nil
}
