// Command compbench measures the competitions path of a running MedForge
// binary end to end over real HTTP: accepted submission -> official score
// visible (p50/p99 with concurrent competitors), sustained scored
// submissions per second, and leaderboard read latency on a large board.
// ops/bench/bench-competitions.sh runs it; it is not part of the product.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medforge/medforge/competitions/signif"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/ops/bench/benchkit"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

var (
	bin           = flag.String("bin", "bin/medforge", "medforge binary")
	dsn           = flag.String("dsn", "", "database DSN (the bench database; reset first)")
	port          = flag.Int("port", 18191, "port for medforge serve")
	competitors   = flag.Int("competitors", 50, "concurrent competitors")
	perUser       = flag.Int("per-user", 10, "submissions per competitor in the latency run")
	burst         = flag.Int("burst", 2000, "submissions queued for the throughput run")
	boardUsers    = flag.Int("board-users", 10000, "users on the large leaderboard")
	boardSubs     = flag.Int("board-submissions", 100000, "submissions on the large leaderboard")
	boardDuration = flag.Duration("board-duration", 10*time.Second, "leaderboard read duration")
	workDir       = flag.String("work", ".run/bench/competitions", "scratch directory")
	openRate      = flag.Duration("open-interval", time.Second, "open loop: each competitor submits once per interval")
	openRounds    = flag.Int("open-rounds", 10, "open loop: submissions per competitor")
	scorer        = flag.String("scorer", "accuracy", "built-in module scoring the bench competition (accuracy: Go, accuracy-c: C)")
)

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Fresh schema each run.
	pool, st, err := benchkit.FreshDB(ctx, *dsn)
	benchkit.Must(err)
	os.RemoveAll(*workDir)
	env := benchkit.ServeEnv(*dsn, *port, *workDir,
		// 50 competitors submitting every second from one address: far past
		// the per-user and per-IP upload rates a real deployment uses.
		"MEDFORGE_UPLOADS_PER_USER=0", "MEDFORGE_UPLOADS_PER_IP=0")
	if os.Getenv("MEDFORGE_LOG_LEVEL") == "" {
		env = append(env, "MEDFORGE_LOG_LEVEL=warn")
	}
	// A titanic-size competition with a cap that does not get in the way.
	slug := "bench-titanic"
	bdir := filepath.Join(*workDir, "bundle")
	files, err := benchkit.TitanicBundle(bdir, slug, *scorer, `"daily_cap": 10000, "scoring_mode": "single_realtime_hidden"`)
	benchkit.Must(err)
	fmt.Printf("bench competition scored by the built-in %s module\n", *scorer)
	benchkit.Must(benchkit.Run(env, *bin, "competition", "import", bdir))
	tokens := makeUsers(ctx, st, *competitors)

	srv, err := benchkit.StartServe(*bin, env, filepath.Join(*workDir, "serve.log"))
	benchkit.Must(err)
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d/api/v2", *port)
	benchkit.Must(benchkit.WaitHealthy(base))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	b := &bench{ctx: ctx, pool: pool, client: client, base: base, slug: slug, tokens: tokens, files: files, env: env}
	// Warm-up: compile and cache the module and holdout.
	id := submit(client, base, slug, tokens[0], files.SampleSubmission)
	waitScored(client, base, tokens[0], id)

	done := b.closedLoop(id)
	b.openLoop()
	b.sustained(id + int64(done))
	b.largeBoard()
}

// bench is what the phases share: the database, the serve child's API and
// the first competition with its competitors.
type bench struct {
	ctx    context.Context
	pool   *sql.DB
	client *http.Client
	base   string
	slug   string
	tokens []string
	files  *synth.Files
	env    []string
}

// closedLoop is phase 1: each competitor submits, waits for its official
// score, repeats; id is the warm-up submission's. It returns how many
// submissions it made.
func (b *bench) closedLoop(id int64) int {
	// 1. Latency: each competitor submits, waits for its official score, repeats.
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for u := range *competitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range *perUser {
				file := b.files.Submission(uint64(u*1000+i), synth.SubmissionOptions{Noise: 0.3, Shuffle: true})
				t0 := time.Now()
				id := submit(b.client, b.base, b.slug, b.tokens[u], file)
				t1 := time.Now()
				waitScored(b.client, b.base, b.tokens[u], id)
				d := time.Since(t1)
				_ = t0
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	fmt.Printf("accepted -> official score visible, closed loop (%d competitors x %d titanic-size submissions, each waiting for its score before the next; GET ?wait long-poll):\n", *competitors, *perUser)
	fmt.Printf("  p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms   (goal p50 <= 200 ms, p99 <= 1000 ms)\n",
		benchkit.Ms(benchkit.Pct(lat, .5)), benchkit.Ms(benchkit.Pct(lat, .99)), benchkit.Ms(lat[len(lat)-1]))
	var server []time.Duration
	rows, err := b.pool.QueryContext(b.ctx, "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, scored_at) FROM submissions WHERE id > ? AND id <= ?", id, id+int64(len(lat)))
	if err != nil {
		benchkit.Die("%v", err)
	}
	for rows.Next() {
		var us int64
		rows.Scan(&us)
		server = append(server, time.Duration(us)*time.Microsecond)
	}
	rows.Close()
	slices.Sort(server)
	fmt.Printf("  server side (accepting commit -> official score commit): p50 %7.1f ms   p99 %7.1f ms\n", benchkit.Ms(benchkit.Pct(server, .5)), benchkit.Ms(benchkit.Pct(server, .99)))
	fmt.Printf("  closed-loop throughput %.0f scored/s\n", float64(len(lat))/elapsed.Seconds())
	return len(lat)
}

// openLoop is phase 1b: each competitor submits once per interval
// (staggered), whether or not its last one is scored.
func (b *bench) openLoop() {
	// 1b. Open loop: each competitor submits once per interval (staggered),
	// whether or not its last one is scored, and waits for each score.
	var mu sync.Mutex
	var wg sync.WaitGroup
	var olat []time.Duration
	ostart := time.Now()
	for u := range *competitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			offset := time.Duration(u) * *openRate / time.Duration(*competitors)
			var inner sync.WaitGroup
			for i := range *openRounds {
				time.Sleep(time.Until(ostart.Add(offset + time.Duration(i)**openRate)))
				file := b.files.Submission(uint64(500000+u*1000+i), synth.SubmissionOptions{Noise: 0.3})
				inner.Add(1)
				go func() {
					defer inner.Done()
					id := submit(b.client, b.base, b.slug, b.tokens[u], file)
					t1 := time.Now()
					waitScored(b.client, b.base, b.tokens[u], id)
					d := time.Since(t1)
					mu.Lock()
					olat = append(olat, d)
					mu.Unlock()
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	slices.Sort(olat)
	fmt.Printf("accepted -> official score visible, open loop (%d competitors each submitting every %s, %.0f/s offered):\n",
		*competitors, *openRate, float64(*competitors)/openRate.Seconds())
	fmt.Printf("  p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms   (goal p50 <= 200 ms, p99 <= 1000 ms)\n",
		benchkit.Ms(benchkit.Pct(olat, .5)), benchkit.Ms(benchkit.Pct(olat, .99)), benchkit.Ms(olat[len(olat)-1]))
}

// sustained is phase 2: a burst of uploads, timed until the queue drains;
// after is the last submission before the burst.
func (b *bench) sustained(after int64) {
	// 2. Throughput: queue a burst, time until the queue drains.
	var wg sync.WaitGroup
	var queued atomic.Int64
	qstart := time.Now()
	sem := make(chan struct{}, *competitors)
	for i := range *burst {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			submit(b.client, b.base, b.slug, b.tokens[i%len(b.tokens)], b.files.Submission(uint64(900000+i), synth.SubmissionOptions{Noise: 0.2}))
			queued.Add(1)
		}()
	}
	wg.Wait()
	accepted := time.Since(qstart)
	for {
		var pending int
		b.pool.QueryRowContext(b.ctx, "SELECT COUNT(*) FROM submissions WHERE pending > 0").Scan(&pending)
		if pending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	drained := time.Since(qstart)
	var first, last time.Time
	b.pool.QueryRowContext(b.ctx, "SELECT MIN(scored_at), MAX(scored_at) FROM submissions WHERE id > ?", after).Scan(&first, &last)
	fmt.Printf("sustained scoring (%d submissions uploaded by %d clients while the embedded worker scores):\n", *burst, *competitors)
	fmt.Printf("  %7.0f scored/s end to end (uploads took %.1f s, all scored after %.1f s)   (goal >= 100/s)\n",
		float64(*burst)/drained.Seconds(), accepted.Seconds(), drained.Seconds())
}

// largeBoard is phase 3: leaderboard reads and a rebuild on a large board,
// against the competition's detail as the reference, and a check of the
// board's top entry.
func (b *bench) largeBoard() {
	// 3. Leaderboard reads on a large board.
	bigSlug := "bench-board"
	bdir2 := filepath.Join(*workDir, "bundle2")
	_, err := benchkit.TitanicBundle(bdir2, bigSlug, *scorer, `"daily_cap": 10000, "scoring_mode": "public_private"`)
	benchkit.Must(err)
	benchkit.Must(benchkit.Run(b.env, *bin, "competition", "import", bdir2))
	fillBoard(b.ctx, b.pool, bigSlug, *boardUsers, *boardSubs)
	// Both boards: the private one is revealed so that anyone reads it.
	b.pool.ExecContext(b.ctx, "UPDATE competitions SET private_revealed_at = NOW(6), leaderboard_version = leaderboard_version + 1 WHERE slug = ?", bigSlug)
	for _, board := range []string{"public", "private"} {
		boardURL := b.base + "/competitions/" + bigSlug + "/leaderboard?board=" + board
		t0 := time.Now()
		get(b.client, boardURL) // builds the board once
		fmt.Printf("%s board build with paired comparisons (%d users): %.1f ms\n", board, *boardUsers, benchkit.Ms(time.Since(t0)))
		for _, clients := range []int{4, 16} {
			// The reference, in the same run with the same clients: the
			// competition's detail (one cached row read and a small JSON
			// body), i.e. the server's floor for a read under this load.
			rlat := readLoop(b.client, boardURL, clients, *boardDuration)
			ref := readLoop(b.client, b.base+"/competitions/"+bigSlug, clients, *boardDuration)
			fmt.Printf("leaderboard read, %s board (%d users, %d submissions, first page of 100, %d clients, %s):\n", board, *boardUsers, *boardSubs, clients, *boardDuration)
			fmt.Printf("  p50 %6.2f ms   p99 %6.2f ms   %7.0f req/s   (goal p99 <= 20 ms)\n",
				benchkit.Ms(benchkit.Pct(rlat, .5)), benchkit.Ms(benchkit.Pct(rlat, .99)), float64(len(rlat))/boardDuration.Seconds())
			fmt.Printf("  reference GET /competitions/{slug}: p50 %6.2f ms   p99 %6.2f ms; board/reference p99 ratio %.2fx\n",
				benchkit.Ms(benchkit.Pct(ref, .5)), benchkit.Ms(benchkit.Pct(ref, .99)), benchkit.Ms(benchkit.Pct(rlat, .99))/benchkit.Ms(benchkit.Pct(ref, .99)))
		}
	}
	t0 := time.Now()
	b.pool.ExecContext(b.ctx, "UPDATE competitions SET leaderboard_version = leaderboard_version + 1 WHERE slug = ?", bigSlug)
	get(b.client, b.base+"/competitions/"+bigSlug+"/leaderboard")
	fmt.Printf("  public board rebuild after an official-score change (paired comparisons included): %.1f ms\n", benchkit.Ms(time.Since(t0)))
	var top struct {
		Data struct {
			Total        int
			Significance struct{ Covered int }
			Entries      []struct {
				Score       float64
				Submissions int `json:"submission_count"`
			}
		}
	}
	resp, err := b.client.Get(b.base + "/competitions/" + bigSlug + "/leaderboard?limit=1")
	if err != nil {
		benchkit.Die("%v", err)
	}
	json.NewDecoder(resp.Body).Decode(&top)
	resp.Body.Close()
	want := 0.0
	for j := range *boardSubs {
		want = max(want, float64((j*7919)%1000)/1000)
	}
	if top.Data.Total != min(*boardUsers, *boardSubs) || len(top.Data.Entries) != 1 || math.Abs(top.Data.Entries[0].Score-want) > 1e-4 ||
		top.Data.Significance.Covered == 0 {
		benchkit.Die("large board is wrong: %+v", top.Data)
	}
	fmt.Printf("  (load average now: %s; %d cores shared with other work)\n", benchkit.LoadAvg(), benchkit.NumCPU())
}

// readLoop GETs url from clients goroutines for d and returns the sorted
// latencies.
func readLoop(c *http.Client, url string, clients int, d time.Duration) []time.Duration {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	stop := time.Now().Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				get(c, url)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat
}

func makeUsers(ctx context.Context, st store.Store, n int) []string {
	id, err := identity.NewService(st, identity.Options{Params: identity.TestParams})
	if err != nil {
		benchkit.Die("%v", err)
	}
	var toks []string
	for i := range n {
		uid, err := st.CreateUser(ctx, db.CreateUserParams{Email: fmt.Sprintf("bench%d@example.org", i), PasswordHash: "x",
			Role: db.UsersRoleUser, MaxConcurrentSessions: 1, DisplayName: fmt.Sprintf("competitor %d", i)})
		if err != nil {
			benchkit.Die("user: %v", err)
		}
		_, tok, err := id.CreateToken(ctx, uid, "bench", time.Hour)
		if err != nil {
			benchkit.Die("token: %v", err)
		}
		toks = append(toks, tok)
	}
	return toks
}

func submit(c *http.Client, base, slug, token string, file []byte) int64 {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "submission.csv")
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/competitions/"+slug+"/submissions", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		benchkit.Die("submit: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		benchkit.Die("submit: %d %s", resp.StatusCode, b)
	}
	var env struct {
		Data struct {
			Submission struct{ ID int64 }
		}
	}
	json.Unmarshal(b, &env)
	return env.Data.Submission.ID
}

func waitScored(c *http.Client, base, token string, id int64) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/submissions/%d?wait=10s", base, id), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			benchkit.Die("poll: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte(`"status":"scored"`)) {
			return
		}
		if bytes.Contains(b, []byte(`"status":"failed"`)) {
			benchkit.Die("submission %d failed: %s", id, b)
		}
	}
	benchkit.Die("submission %d not scored within 60s", id)
}

func get(c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		benchkit.Die("get: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		benchkit.Die("get %s: %d", url, resp.StatusCode)
	}
}

// fillBoard inserts users and scored submissions straight into the tables
// (in batches), as a busy competition would have them.
func fillBoard(ctx context.Context, pool *sql.DB, slug string, users, subs int) {
	var compID int64
	if err := pool.QueryRowContext(ctx, "SELECT id FROM competitions WHERE slug = ?", slug).Scan(&compID); err != nil {
		benchkit.Die("board: %v", err)
	}
	firstUser := insertBoardUsers(ctx, pool, users)
	insertBoardSubmissions(ctx, pool, compID, firstUser, users, subs)
	backfillBoard(ctx, pool, compID)
	insertUnitScores(ctx, pool, compID)
	pool.ExecContext(ctx, "UPDATE competitions SET leaderboard_version = leaderboard_version + 1 WHERE id = ?", compID)
}

// boardBatch is how many rows fillBoard's helpers insert per statement.
const boardBatch = 1000

// insertBoardUsers inserts users board players and returns the first one's id.
func insertBoardUsers(ctx context.Context, pool *sql.DB, users int) int64 {
	var firstUser int64
	for i := 0; i < users; i += boardBatch {
		var sb strings.Builder
		sb.WriteString("INSERT INTO users (email, password_hash, display_name) VALUES ")
		for j := i; j < min(i+boardBatch, users); j++ {
			if j > i {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "('board%d@example.org','x','player %d')", j, j)
		}
		res, err := pool.ExecContext(ctx, sb.String())
		if err != nil {
			benchkit.Die("board users: %v", err)
		}
		if i == 0 {
			firstUser, _ = res.LastInsertId()
		}
	}
	return firstUser
}

// insertBoardSubmissions inserts subs scored submissions to compID, round
// robin over the users from firstUser on, with public and private scores.
func insertBoardSubmissions(ctx context.Context, pool *sql.DB, compID, firstUser int64, users, subs int) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < subs; i += boardBatch {
		var sb strings.Builder
		sb.WriteString("INSERT INTO submissions (competition_id, user_id, filename, artifact_sha256, artifact_path, size_bytes, row_count, status, internal_error, pending, primary_score, ci_low, ci_high, private_score, private_ci_low, private_ci_high, created_at, scored_at) VALUES ")
		for j := i; j < min(i+boardBatch, subs); j++ {
			if j > i {
				sb.WriteByte(',')
			}
			score := float64((j*7919)%1000) / 1000
			at := t0.Add(time.Duration(j) * time.Second).Format("2006-01-02 15:04:05")
			priv := float64((j*104729)%1000) / 1000
			fmt.Fprintf(&sb, "(%d,%d,'s.csv','%064d','x',1,418,'scored','',0,%g,%g,%g,%g,%g,%g,'%s','%s')",
				compID, firstUser+int64(j%users), j, score, score-0.02, score+0.02, priv, priv-0.02, priv+0.02, at, at)
		}
		if _, err := pool.ExecContext(ctx, sb.String()); err != nil {
			benchkit.Die("board submissions: %v", err)
		}
	}
}

// backfillBoard fills compID's leaderboard entries from its submissions.
func backfillBoard(ctx context.Context, pool *sql.DB, compID int64) {
	// The same backfill as migration 00011.
	if _, err := pool.ExecContext(ctx, `INSERT INTO leaderboard_entries (competition_id, user_id, submissions, last_submission_at)
		SELECT competition_id, user_id, COUNT(*), MAX(created_at) FROM submissions WHERE competition_id = ? GROUP BY competition_id, user_id`, compID); err != nil {
		benchkit.Die("board entries: %v", err)
	}
	if _, err := pool.ExecContext(ctx, `UPDATE leaderboard_entries e
		JOIN (SELECT s.id, s.competition_id, s.user_id, s.primary_score, s.ci_low, s.ci_high, s.created_at,
		             ROW_NUMBER() OVER (PARTITION BY s.competition_id, s.user_id
		                                ORDER BY IF(c.higher_is_better, -s.primary_score, s.primary_score), s.created_at, s.id) AS rn
		      FROM submissions s JOIN competitions c ON c.id = s.competition_id
		      WHERE s.status = 'scored' AND s.primary_score IS NOT NULL AND s.competition_id = ?) b
		  ON b.competition_id = e.competition_id AND b.user_id = e.user_id AND b.rn = 1
		SET e.best_submission_id = b.id, e.best_score = b.primary_score, e.best_ci_low = b.ci_low,
		    e.best_ci_high = b.ci_high, e.best_at = b.created_at`, compID); err != nil {
		benchkit.Die("board best: %v", err)
	}
	// The private board: each user's best public submission marked final.
	if _, err := pool.ExecContext(ctx, `UPDATE leaderboard_entries e JOIN submissions s ON s.id = e.best_submission_id
		SET s.is_final = TRUE, e.private_submission_id = s.id, e.private_score = s.private_score,
		    e.private_ci_low = s.private_ci_low, e.private_ci_high = s.private_ci_high, e.private_at = s.created_at
		WHERE e.competition_id = ?`, compID); err != nil {
		benchkit.Die("board private: %v", err)
	}
}

// insertUnitScores gives each best submission of compID its official score
// row with per-unit contributions.
func insertUnitScores(ctx context.Context, pool *sql.DB, compID int64) {
	// Official score rows with per-unit contributions (418 units, 0/1 with
	// the submission's score as the chance of 1) for the paired comparisons.
	rows, err := pool.QueryContext(ctx, `SELECT best_submission_id, best_score FROM leaderboard_entries WHERE competition_id = ?`, compID)
	if err != nil {
		benchkit.Die("board best rows: %v", err)
	}
	type best struct {
		id    int64
		score float64
	}
	var bests []best
	for rows.Next() {
		var b best
		rows.Scan(&b.id, &b.score)
		bests = append(bests, b)
	}
	rows.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(bests); i += boardBatch {
		var sb strings.Builder
		sb.WriteString("INSERT INTO submission_scores (submission_id, primary_score, secondary_json, scorer_digest, holdout_digest, engine_version, duration_ms, is_official, private_score, split_method, unit_scores) VALUES ")
		for j, b := range bests[i:min(i+boardBatch, len(bests))] {
			if j > 0 {
				sb.WriteByte(',')
			}
			units := make([]float64, 418)
			for u := range units {
				if rng.Float64() < b.score {
					units[u] = 1
				}
			}
			fmt.Fprintf(&sb, "(%d,%g,'{}','bench','bench','bench',0,TRUE,0,'one_run',X'%x')", b.id, b.score, signif.Encode(units))
		}
		if _, err := pool.ExecContext(ctx, sb.String()); err != nil {
			benchkit.Die("board unit scores: %v", err)
		}
	}
}
