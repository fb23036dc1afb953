package competitions

import (
	"context"
	"fmt"
	"os"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Dataset is the public view of a competition's dataset.
type Dataset struct {
	Slug        string        `json:"slug"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Exposure    string        `json:"exposure"`
	Files       []DatasetFile `json:"files,omitempty"`
}

// DatasetFile is one public file; URL is filled in by the HTTP layer.
type DatasetFile struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	SizeBytes int64  `json:"size"`
	SHA256    string `json:"sha256"`
	URL       string `json:"url"`
}

func datasetView(d db.Dataset) Dataset {
	return Dataset{Slug: d.Slug, Title: d.Title, Description: d.Description, Exposure: string(d.Exposure)}
}

func (s *Service) dataset(ctx context.Context, v Viewer, slug string) (db.Dataset, error) {
	d, err := s.st.GetDatasetBySlug(ctx, slug)
	if store.IsNotFound(err) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("get dataset %q: %w", slug, err)
	}
	if !s.seesDataset(ctx, v, d) {
		return d, ErrNotFound
	}
	return d, nil
}

// seesDataset: INTERNAL needs can_use_internal, and a draft's dataset is
// visible only to the competition's owner and admins.
func (s *Service) seesDataset(ctx context.Context, v Viewer, d db.Dataset) bool {
	if d.Exposure == db.DatasetsExposureINTERNAL && !v.Internal {
		return false
	}
	if d.Published || v.Admin {
		return true
	}
	c, err := s.st.GetCompetitionBySlug(ctx, d.Slug)
	return err == nil && c.DatasetID == d.ID && v.owns(c)
}

// ListDatasets returns the datasets v may see, without files.
func (s *Service) ListDatasets(ctx context.Context, v Viewer) ([]Dataset, error) {
	rows, err := s.st.ListDatasets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	out := []Dataset{}
	for _, d := range rows {
		if !s.seesDataset(ctx, v, d) {
			continue
		}
		out = append(out, datasetView(d))
	}
	return out, nil
}

// GetDataset returns a dataset visible to v with its public files.
func (s *Service) GetDataset(ctx context.Context, v Viewer, slug string) (Dataset, error) {
	d, err := s.dataset(ctx, v, slug)
	if err != nil {
		return Dataset{}, err
	}
	files, err := s.st.ListDatasetFiles(ctx, d.ID)
	if err != nil {
		return Dataset{}, fmt.Errorf("files of %s: %w", slug, err)
	}
	out := datasetView(d)
	out.Files = make([]DatasetFile, len(files))
	for i, f := range files {
		out.Files[i] = DatasetFile{Name: f.Name, Kind: string(f.Kind), SizeBytes: f.SizeBytes, SHA256: f.Sha256}
	}
	return out, nil
}

// OpenFile opens a public file of a dataset visible to v. The file is found
// by its exact name in dataset_files and opened under TRAINING_DATA_ROOT or
// PUBLIC_EVAL_DATA_ROOT by its kind; any other name (a path, a traversal, a
// holdout) is ErrNotFound. The caller closes the file.
func (s *Service) OpenFile(ctx context.Context, v Viewer, slug, name string) (*os.File, DatasetFile, error) {
	if !ValidFileName(name) {
		return nil, DatasetFile{}, ErrNotFound
	}
	d, err := s.dataset(ctx, v, slug)
	if err != nil {
		return nil, DatasetFile{}, err
	}
	f, err := s.st.GetDatasetFile(ctx, db.GetDatasetFileParams{DatasetID: d.ID, Name: name})
	if store.IsNotFound(err) {
		return nil, DatasetFile{}, ErrNotFound
	}
	if err != nil {
		return nil, DatasetFile{}, fmt.Errorf("get file %s/%s: %w", slug, name, err)
	}
	root := s.roots.PublicEval
	if f.Kind == db.DatasetFilesKindTraining {
		root = s.roots.TrainingData
	}
	p, err := resolve(root, f.Path)
	if err != nil {
		return nil, DatasetFile{}, fmt.Errorf("file %s/%s: %w", slug, name, err)
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, DatasetFile{}, fmt.Errorf("open %s/%s: %w", slug, name, err)
	}
	return fh, DatasetFile{Name: f.Name, Kind: string(f.Kind), SizeBytes: f.SizeBytes, SHA256: f.Sha256}, nil
}
