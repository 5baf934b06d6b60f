package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const watchLong = `Print the event stream of a running "capsengine observe --http ADDR" as JSON
lines: one object per CapsResolved, CapsFailed, EntityGone, VerChanged or KeyVerified event
(see GET /events), flushed as they come. If watch falls behind, the engine
drops events for it rather than wait, and an EventsLost object
({"kind":"EventsLost","lost":N}), whatever --kinds selects, marks where and
how many.

--kinds selects event kinds (comma-separated). A stream that breaks after
events came is resumed after the last one (Last-Event-ID), --retries times in a
row at most. watch ends when the stream ends for good, after --count events,
or after --timeout. Exit status: 0 when it stopped as asked (--count reached,
--timeout, interrupt), 1 when the stream could not be opened or broke past its
retries, 2 for a usage error.`

type watchOptions struct {
	http, kinds, tokenFile string
	count, retries         int
	timeout                time.Duration
}

func newWatchCmd() *cobra.Command {
	var o watchOptions
	c := &cobra.Command{
		Use:     "watch --http ADDR [--kinds K,K] [--count N]",
		Short:   "Print the event stream of a running observe as JSON lines",
		Long:    watchLong,
		Example: "  capsengine watch --http 127.0.0.1:8080 --kinds CapsResolved,CapsFailed",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runWatch(c, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.http, "http", "", "address of the observe HTTP API (host:port or http://host:port)")
	f.StringVar(&o.kinds, "kinds", "", "event kinds to print, comma-separated (default all)")
	f.StringVar(&o.tokenFile, "token-file", "", "the API's bearer token (first line of the file: observe's --http-token-file)")
	f.IntVar(&o.count, "count", 0, "stop after this many events (0: no limit)")
	f.IntVar(&o.retries, "retries", 5, "reconnections in a row, resuming after the last event, before a broken stream ends watch")
	f.DurationVar(&o.timeout, "timeout", 0, "stop after this long (0: no limit)")
	return c
}

func runWatch(c *cobra.Command, o watchOptions) error {
	if o.http == "" {
		return usageError(c, errors.New("--http is required"))
	}
	if o.count < 0 || o.timeout < 0 || o.retries < 0 {
		return usageError(c, errors.New("--count, --timeout and --retries must not be negative"))
	}
	base := o.http
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/events")
	if err != nil {
		return usageError(c, err)
	}
	if o.kinds != "" {
		u.RawQuery = url.Values{"kinds": {o.kinds}}.Encode()
	}
	ctx := c.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var token string
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return usageError(c, fmt.Errorf("--token-file: %w", err))
		}
		line, _, _ := strings.Cut(string(b), "\n")
		token = strings.TrimSpace(line)
	}
	out := bufio.NewWriter(c.OutOrStdout())
	defer out.Flush()
	s := watchStream{url: u.String(), token: token, out: out, count: o.count}
	// A stream that breaks after it delivered events is resumed after the
	// last one (Last-Event-ID), up to --retries times in a row: observe
	// cuts a client that stalls, and a proxy may drop an idle one.
	failures := 0
	for {
		got, err := s.run(ctx)
		if err == nil {
			return nil
		}
		var ue usageErr
		if errors.As(err, &ue) {
			return usageError(c, ue.error)
		}
		if got {
			failures = 0
		}
		failures++
		if ctx.Err() != nil || s.lastID == "" || failures > o.retries {
			return watchFailed(ctx, c, err)
		}
		select {
		case <-ctx.Done():
			return watchFailed(ctx, c, err)
		case <-time.After(time.Duration(failures) * 500 * time.Millisecond):
		}
	}
}

// usageErr is a request the server refused as malformed (400).
type usageErr struct{ error }

// watchStream is one watch's connection to /events, and where it got to.
type watchStream struct {
	url, token string
	out        *bufio.Writer
	count, n   int
	lastID     string // of the last event printed: where a reconnection resumes
}

// run reads the stream until it ends, --count is reached (nil), or it
// breaks; got says events came before it broke.
func (s *watchStream) run(ctx context.Context) (got bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return false, usageErr{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode == http.StatusBadRequest {
			return false, usageErr{fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))}
		}
		return false, fmt.Errorf("%s: %s", s.url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	id := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id:"); ok {
			id = strings.TrimSpace(v)
			continue
		}
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue // event:, comments, blank lines
		}
		fmt.Fprintln(s.out, strings.TrimPrefix(data, " "))
		if err := s.out.Flush(); err != nil {
			return got, err
		}
		got = true
		if id != "" { // EventsLost carries none: the last id stays
			s.lastID, id = id, ""
		}
		s.n++
		if s.count > 0 && s.n >= s.count {
			return got, nil
		}
	}
	err = sc.Err()
	if err == nil {
		err = errors.New("the event stream ended")
	}
	return got, err
}

// watchFailed is nil when ctx ended (interrupt, --timeout): a requested
// stop, not a failure.
func watchFailed(ctx context.Context, c *cobra.Command, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	fmt.Fprintln(c.ErrOrStderr(), "capsengine watch:", err)
	return exitError{1}
}
