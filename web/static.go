package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file, served under a name that carries its
// content hash, so that it can be cached for a year and a new release is
// never mixed with an old file.
type asset struct {
	name   string // logical name, e.g. "pay.js"
	hashed string // served name, e.g. "pay.3f2a9c1b7d0e.js"
	ctype  string
	etag   string
	body   []byte
	gz     []byte // gzip of body for text types, nil otherwise
}

type assetSet struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

func loadAssets() (*assetSet, error) {
	set := &assetSet{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		ext := path.Ext(name)
		ctype, ok := contentTypes[ext]
		if !ok {
			return fmt.Errorf("static/%s: no content type for %q", name, ext)
		}
		a := newAsset(name, ctype, body)
		set.byName[name] = a
		set.byHashed[a.hashed] = a
		return nil
	})
	return set, err
}

// newAsset names body by its content hash and compresses it.
func newAsset(name, ctype string, body []byte) *asset {
	ext := path.Ext(name)
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])[:12]
	a := &asset{
		name:   name,
		hashed: strings.TrimSuffix(name, ext) + "." + h + ext,
		ctype:  ctype,
		etag:   `"` + h + `"`,
		body:   body,
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	if buf.Len() < len(body) {
		a.gz = buf.Bytes()
	}
	return a
}

// embedOriginMark is where checkout.js receives the checkout's origin.
const embedOriginMark = `"__CHECKOUT_ORIGIN__"`

// pinEmbedOrigin writes the base URL's origin into checkout.js, so that the
// frame is always the base URL's page, wherever the merchant's page loaded
// the script from (another host name of the same server would serve a page
// whose submission is refused: its Origin is not the base URL's).
func (set *assetSet) pinEmbedOrigin(origin string) error {
	a := set.byName["checkout.js"]
	if a == nil || !bytes.Contains(a.body, []byte(embedOriginMark)) {
		return errString("static/checkout.js lacks " + embedOriginMark)
	}
	quoted, _ := json.Marshal(origin)
	pinned := newAsset(a.name, a.ctype, bytes.Replace(a.body, []byte(embedOriginMark), quoted, 1))
	delete(set.byHashed, a.hashed)
	set.byName[a.name], set.byHashed[pinned.hashed] = pinned, pinned
	return nil
}

// url is the path of a static file by its logical name; templates call it
// as {{asset "pay.js"}}. An unknown name is a bug caught by the tests.
func (set *assetSet) url(name string) string {
	if a, ok := set.byName[name]; ok {
		return "/static/" + a.hashed
	}
	return "/static/missing/" + name
}

// static serves a content-hashed file with a year of cache: its name
// changes whenever its content does.
func (s *server) static(c *gin.Context) {
	a, ok := s.assets.byHashed[c.Param("file")]
	if !ok {
		c.Status(http.StatusNotFound)
		return
	}
	serveAsset(c, a, "public, max-age=31536000, immutable")
}

// embedScript serves checkout.js at its stable URL for merchants' pages.
// Its name cannot change, so the cache is short and revalidated by ETag.
func (s *server) embedScript(c *gin.Context) {
	serveAsset(c, s.assets.byName["checkout.js"], "public, max-age=300")
}

// serveAsset writes a static file. Static files hold nothing personal, so
// gzip is safe here (no secret next to attacker-chosen text: BREACH).
func serveAsset(c *gin.Context, a *asset, cacheControl string) {
	cacheable(c, cacheControl)
	c.Header("ETag", a.etag)
	c.Header("Vary", "Accept-Encoding")
	if match := c.GetHeader("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && strings.Contains(c.GetHeader("Accept-Encoding"), "gzip") {
		c.Header("Content-Encoding", "gzip")
		body = a.gz
	}
	c.Data(http.StatusOK, a.ctype, body)
}
