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
lines: one object per CapsResolved, CapsFailed, EntityGone or VerChanged event
(see GET /events), flushed as they come. If watch falls behind, the engine
drops events for it rather than wait, and an EventsLost object
({"kind":"EventsLost","lost":N}), whatever --kinds selects, marks where and
how many.

--kinds selects event kinds (comma-separated). watch ends when the stream
ends, after --count events, or after --timeout. Exit status: 0 when it stopped
as asked (--count reached, --timeout, interrupt), 1 when the stream could not
be opened or broke, 2 for a usage error.`

type watchOptions struct {
	http, kinds, tokenFile string
	count                  int
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
	f.DurationVar(&o.timeout, "timeout", 0, "stop after this long (0: no limit)")
	return c
}

func runWatch(c *cobra.Command, o watchOptions) error {
	if o.http == "" {
		return usageError(c, errors.New("--http is required"))
	}
	if o.count < 0 || o.timeout < 0 {
		return usageError(c, errors.New("--count and --timeout must not be negative"))
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return usageError(c, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return usageError(c, fmt.Errorf("--token-file: %w", err))
		}
		line, _, _ := strings.Cut(string(b), "\n")
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(line))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return watchFailed(ctx, c, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode == http.StatusBadRequest {
			return usageError(c, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body))))
		}
		return watchFailed(ctx, c, fmt.Errorf("%s: %s", u, resp.Status))
	}
	out := bufio.NewWriter(c.OutOrStdout())
	defer out.Flush()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue // event:, id:, comments, blank lines
		}
		fmt.Fprintln(out, strings.TrimPrefix(data, " "))
		if err := out.Flush(); err != nil {
			return err
		}
		n++
		if o.count > 0 && n >= o.count {
			return nil
		}
	}
	err = sc.Err()
	if err == nil {
		err = errors.New("the event stream ended")
	}
	return watchFailed(ctx, c, err)
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
