package web

import (
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/competitions"
)

// authorOnly lets authors (can_author) and admins through.
func authorOnly(v *view) error {
	if err := signedIn(v); err != nil {
		return err
	}
	if !v.User.CanAuthor && !v.User.IsAdmin() {
		return &apiError{Status: http.StatusForbidden, Detail: "authoring competitions needs the can_author entitlement; ask an administrator"}
	}
	return nil
}

// authorListData is the author home: my competitions and the create form.
type authorListData struct {
	Mine []competitions.AuthorCompetition
}

func (ui *UI) authorList(c *fiber.Ctx, v *view) error {
	if err := authorOnly(v); err != nil {
		return err
	}
	var d authorListData
	if err := ui.get(c, "/api/v2/author/competitions", &d.Mine); err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Author competitions", "author", d
	return ui.render(c, "author", v)
}

// authorCompData is one competition's author page.
type authorCompData struct {
	Comp        competitions.AuthorCompetition
	Submissions []competitions.OwnerSubmission
	// Report is shown when asked for (?report=1) or once certified; it is
	// computed on the first request for the current scorer and holdout.
	Report *competitions.CertificationReport
	// ReportJob is the scoring worker's job while the report is still
	// being computed (the API answered 202); the page reloads meanwhile.
	ReportJob *competitions.SandboxJob
	Ready     bool // holdout, scorer and sample submission are all there
}

func (ui *UI) authorCompetition(c *fiber.Ctx, v *view) error {
	if err := authorOnly(v); err != nil {
		return err
	}
	slug := url.PathEscape(c.Params("slug"))
	base := "/api/v2/author/competitions/" + slug
	var d authorCompData
	if err := ui.get(c, base, &d.Comp); err != nil {
		return err
	}
	if err := ui.get(c, base+"/submissions?limit=100", &d.Submissions); err != nil {
		return err
	}
	sample := false
	for _, f := range d.Comp.Files {
		sample = sample || f.Kind == competitions.KindSampleSubmission
	}
	d.Ready = d.Comp.Holdout != nil && d.Comp.Scorer != nil && sample
	if d.Ready && (c.Query("report") != "" || d.Comp.Certified) {
		// A report not done within the API's wait is a 202 whose data is
		// {pending, job}: both shapes decode into r.
		var r struct {
			competitions.CertificationReport
			Pending bool                     `json:"pending"`
			Job     *competitions.SandboxJob `json:"job"`
		}
		if err := ui.get(c, base+"/report?wait=5", &r); err != nil {
			return err
		}
		if r.Pending {
			d.ReportJob = r.Job
		} else {
			d.Report = &r.CertificationReport
		}
	}
	v.Title, v.Nav, v.Data = "Author: "+d.Comp.Title, "author", d
	return ui.render(c, "author_competition", v)
}
