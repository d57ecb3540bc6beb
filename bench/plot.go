package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// series names one line of the chart: results with the same label,
// transport, mode, crypto and request, across concurrency.
func (r *Result) series() string {
	s := fmt.Sprintf("%s %s %s", r.Label, r.Transport, r.Mode)
	if r.Mode == Pipeline {
		s += fmt.Sprintf(" d%d", r.Depth)
	}
	if r.Crypto != "none" && r.Crypto != "" {
		s += " " + r.Crypto
	}
	return s
}

// Plot writes a chart of throughput (top) and p99 latency (bottom) by
// concurrency, one line per series, to path (.png or .svg). Series with a
// single concurrency are drawn as points.
func Plot(path, title string, rs []*Result) error {
	if len(rs) == 0 {
		return errors.New("no results to plot")
	}
	// Each series' points, in the order of rs; the series in order of
	// first appearance.
	type points struct{ rate, lat plotter.XYs }
	groups := map[string]*points{}
	var order []string
	for _, r := range rs {
		k := r.series()
		g := groups[k]
		if g == nil {
			g = new(points)
			groups[k] = g
			order = append(order, k)
		}
		x := float64(r.Concurrency)
		g.rate = append(g.rate, plotter.XY{X: x, Y: r.Throughput})
		g.lat = append(g.lat, plotter.XY{X: x, Y: r.Latency.P99 / 1e3})
	}
	rate := newPlot(title+": throughput", "connections", "req/s")
	lat := newPlot(title+": p99 latency", "connections", "p99 (ms)")
	for i, k := range order {
		xr, xl := groups[k].rate, groups[k].lat
		sort.Slice(xr, func(a, b int) bool { return xr[a].X < xr[b].X })
		sort.Slice(xl, func(a, b int) bool { return xl[a].X < xl[b].X })
		for _, pair := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{rate, xr}, {lat, xl}} {
			l, pts, err := plotter.NewLinePoints(pair.xys)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(i)
			l.Dashes = plotutil.Dashes(i / 7)
			pts.Color = plotutil.Color(i)
			pts.Shape = plotutil.Shape(i)
			pair.p.Add(l, pts)
			if pair.p == rate {
				pair.p.Legend.Add(k, l, pts)
			}
		}
	}
	const w, h = 10 * vg.Inch, 12 * vg.Inch
	var c draw.Canvas
	var save func() error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		sc := vgsvg.New(w, h)
		c = draw.New(sc)
		save = func() error { return writeTo(path, sc) }
	case ".png":
		ic := vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
		c = draw.New(ic)
		save = func() error { return writeTo(path, ic) }
	default:
		return fmt.Errorf("plot %s: want .png or .svg", path)
	}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	plots := [][]*plot.Plot{{rate}, {lat}}
	canvases := plot.Align(plots, tiles, c)
	rate.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	return save()
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func writeTo(path string, wt interface {
	WriteTo(io.Writer) (int64, error)
}) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
