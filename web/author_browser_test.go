package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/scorers/scorertest"
)

// TestAuthorBrowserJourney drives the author pages in headless Chromium: an
// admin grants can_author on the users page; the author creates a draft,
// uploads the holdout, the public files and a broken scorer, reads a
// failing certification report and a refused publish, uploads the fixed
// scorer, reads a passing report, publishes, and sees the description
// rendered from Markdown on the public page. Screenshots go to
// .run/screenshots/author-*.
func TestAuthorBrowserJourney(t *testing.T) {
	s := startStack(t, false, "MEDFORGE_SCORING_WORKERS=1")
	ctx := browser(t)
	dir := t.TempDir()
	train, test, sample, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for name, b := range map[string][]byte{"train.csv": train, "test.csv": test, "sample_submission.csv": sample, "holdout.csv": hold} {
		files[name] = filepath.Join(dir, name)
		if err := os.WriteFile(files[name], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := scorertest.BuildGo(t, "scorers/testdata/bad-inverted")
	good := scorertest.Build(t, "roc-auc")

	name := fmt.Sprintf("Author %d", time.Now().UnixNano()%100000)
	email := fmt.Sprintf("author%d@example.org", time.Now().UnixNano()%1000000)
	step(t, ctx, "sign up", 30*time.Second,
		chromedp.Navigate(s.URL+"/signup"),
		chromedp.WaitVisible(chromedp.CSS(`#signup-email`)),
		chromedp.SendKeys(chromedp.CSS(`#signup-name`), name),
		chromedp.SendKeys(chromedp.CSS(`#signup-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#signup-password`), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`#signup button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.who strong`)))
	step(t, ctx, "a plain user has no author page", 30*time.Second,
		chromedp.Navigate(s.URL+"/author"),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	if h := value(t, ctx, "forbidden page", chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(h, "can_author") {
		t.Fatalf("author page for a plain user: %q", h)
	}
	step(t, ctx, "sign out", 30*time.Second,
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/signup"]`)))

	step(t, ctx, "admin opens the users page", 30*time.Second,
		chromedp.Navigate(s.URL+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`#login-email`)),
		chromedp.SendKeys(chromedp.CSS(`#login-email`), s.AdminEmail),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), s.AdminPassword),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#users`)))
	formID := value(t, ctx, "user row", chromedp.Evaluate[string](fmt.Sprintf(
		`Array.from(document.querySelectorAll('#users tr')).find(function (r) { return r.textContent.indexOf(%q) >= 0; }).querySelector('form').id`, email)))
	step(t, ctx, "admin grants can_author", 30*time.Second,
		chromedp.Click(chromedp.CSS(`#`+formID+` input[name=can_author]`)),
		chromedp.Click(chromedp.CSS(`#`+formID+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#`+formID+` .form-ok:not(:empty)`)))
	shot(t, ctx, "author-01-admin-grants-can-author")
	checkLabels(t, ctx, "admin users")
	step(t, ctx, "admin signs out", 30*time.Second,
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/signup"]`)))

	step(t, ctx, "author signs in and opens the author page", 30*time.Second,
		chromedp.Navigate(s.URL+"/login?next=/author"),
		chromedp.WaitVisible(chromedp.CSS(`#login-email`)),
		chromedp.SendKeys(chromedp.CSS(`#login-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-competition`)))
	checkLabels(t, ctx, "author list")
	step(t, ctx, "a bad slug is refused with the field named", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#nc-slug`), "Bad Slug"),
		chromedp.SendKeys(chromedp.CSS(`#nc-title`), "Breast cancer (browser)"),
		chromedp.Click(chromedp.CSS(`#new-competition button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-competition-slug-error:not(:empty)`)))
	step(t, ctx, "author creates a draft", 30*time.Second,
		chromedp.SetValue(chromedp.CSS(`#nc-slug`), "bc-browser"),
		chromedp.SendKeys(chromedp.CSS(`#nc-description`), "**Real data**: the Wisconsin breast cancer cases. <script>alert(1)</script>"),
		chromedp.SetValue(chromedp.CSS(`#nc-metric`), "my-auc"),
		chromedp.Click(chromedp.CSS(`#new-competition button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#holdout-upload`)))
	shot(t, ctx, "author-02-draft-created")
	checkLabels(t, ctx, "author competition")

	upload := func(what, form, file string, extra ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		actions := append(extra,
			chromedp.SetUploadFiles(chromedp.CSS(`#`+form+` input[type=file]`), []string{file}),
			chromedp.Click(chromedp.CSS(`#`+form+` button[type=submit]`)),
			chromedp.Sleep(300*time.Millisecond),
			chromedp.WaitVisible(chromedp.CSS(`#`+form+` button[type=submit]:not([disabled])`)))
		step(t, ctx, what, 60*time.Second, actions...)
	}
	upload("holdout", "holdout-upload", files["holdout.csv"])
	step(t, ctx, "holdout stored", 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#holdout-info strong`)))
	if info := value(t, ctx, "holdout info", chromedp.Text(chromedp.CSS(`#holdout-info`))); !strings.Contains(info, "170 rows") {
		t.Fatalf("holdout info: %q", info)
	}
	for _, f := range [][2]string{{"training", "train.csv"}, {"public_eval", "test.csv"}, {"sample_submission", "sample_submission.csv"}} {
		upload("upload "+f[1], "file-upload", files[f[1]], chromedp.SetValue(chromedp.CSS(`#file-kind`), f[0]))
		step(t, ctx, f[1]+" listed", 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#files tr[data-kind="`+f[0]+`"]`)))
	}
	upload("broken scorer", "scorer-upload", bad)
	step(t, ctx, "failing certification report", 120*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#run-report`)),
		chromedp.Click(chromedp.CSS(`#run-report`)),
		chromedp.WaitVisible(chromedp.CSS(`#report[data-ok="false"]`)))
	failed := value(t, ctx, "failed checks", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#report-checks tr[data-ok="false"]')).map(function (r) { return r.getAttribute('data-check'); })`))
	if strings.Join(failed, ",") != "perfect,permuted" {
		t.Fatalf("failed checks shown: %v", failed)
	}
	shot(t, ctx, "author-03-report-failed")
	step(t, ctx, "publishing is refused", 60*time.Second,
		chromedp.Click(chromedp.CSS(`#publish button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#publish .form-error`)))
	if msg := value(t, ctx, "refusal", chromedp.Text(chromedp.CSS(`#publish .form-error`))); !strings.Contains(msg, "perfect") {
		t.Fatalf("publish refusal: %q", msg)
	}
	shot(t, ctx, "author-04-publish-refused")

	upload("fixed scorer", "scorer-upload", good)
	step(t, ctx, "passing certification report", 120*time.Second,
		chromedp.Navigate(s.URL+"/author/bc-browser?report=1"),
		chromedp.WaitVisible(chromedp.CSS(`#report[data-ok="true"]`)))
	shot(t, ctx, "author-05-report-passed")
	step(t, ctx, "publish", 60*time.Second,
		chromedp.Click(chromedp.CSS(`#publish button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#comp-state[data-state="published"]`)))
	shot(t, ctx, "author-06-published")

	step(t, ctx, "public page renders the Markdown description safely", 30*time.Second,
		chromedp.Navigate(s.URL+"/competitions/bc-browser"),
		chromedp.WaitVisible(chromedp.CSS(`.prose strong`)))
	if n := value(t, ctx, "scripts in the description", chromedp.Evaluate[int](`document.querySelectorAll('.prose script').length`)); n != 0 {
		t.Fatalf("%d script elements rendered from the description", n)
	}
	shot(t, ctx, "author-07-public-page")
}
