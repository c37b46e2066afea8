package e2e

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// adminer is a browser-like client of Adminer's web UI: a cookie jar for
// its session, the login form, and the SQL command form with its CSRF
// token. It talks to base only (the published port on 127.0.0.1).
type adminer struct {
	c    *http.Client
	base string
}

func newAdminer(base string) *adminer {
	jar, _ := cookiejar.New(nil)
	return &adminer{
		base: base,
		c: &http.Client{
			Jar:     jar,
			Timeout: 15 * time.Second,
			// Straight to 127.0.0.1, whatever the environment says.
			Transport: &http.Transport{Proxy: nil},
		},
	}
}

// page returns the body of a successful response.
func page(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s %s: %s", resp.Request.Method, resp.Request.URL, resp.Status)
	}
	return string(b), nil
}

// login posts the login form (driver "server" is MySQL/MariaDB) and
// returns the page Adminer shows after its redirect: the database list on
// success, the login form with the server's error otherwise.
func (a *adminer) login(server, user, password string) (string, error) {
	return page(a.c.PostForm(a.base+"/", url.Values{
		"auth[driver]":   {"server"},
		"auth[server]":   {server},
		"auth[username]": {user},
		"auth[password]": {password},
		"auth[db]":       {""},
	}))
}

var tokenRE = regexp.MustCompile(`name=["']token["'] value=["']([^"']+)["']`)

// sql runs query in database db through the "SQL command" form, as a user
// would: open the form, take its CSRF token, post the query. It returns
// the result page.
func (a *adminer) sql(server, user, db, query string) (string, error) {
	u := a.base + "/?" + url.Values{"server": {server}, "username": {user}, "db": {db}, "sql": {""}}.Encode()
	form, err := page(a.c.Get(u))
	if err != nil {
		return form, err
	}
	m := tokenRE.FindStringSubmatch(form)
	if m == nil {
		return form, fmt.Errorf("no CSRF token in the SQL form at %s: %s", u, text(form, 300))
	}
	return page(a.c.PostForm(u, url.Values{"token": {html.UnescapeString(m[1])}, "query": {query}, "limit": {""}}))
}

var tagRE = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)

// text is a page's visible text, shortened to n bytes, for messages.
func text(page string, n int) string {
	s := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(page, " "))), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
