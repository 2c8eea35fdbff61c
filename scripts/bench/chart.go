package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chartSeries are the variants drawn in the chart, with their styles.
var chartSeries = []struct {
	key    string
	label  string
	color  color.RGBA
	dashed bool
	shape  draw.GlyphDrawer
}{
	{keyFloor, "floor (Go net/http)", color.RGBA{R: 120, G: 120, B: 120, A: 255}, true, draw.CircleGlyph{}},
	{keySync, "secrets-sync (/dev/shm)", color.RGBA{R: 0, G: 114, B: 178, A: 255}, false, draw.CircleGlyph{}},
	{keySyncDisk, "secrets-sync (disk)", color.RGBA{R: 86, G: 180, B: 233, A: 255}, true, draw.BoxGlyph{}},
	{keyAgent, "Vault Agent 1.13", color.RGBA{R: 213, G: 94, B: 0, A: 255}, false, draw.TriangleGlyph{}},
	{keyConsulTemplate, "consul-template 0.41.1", color.RGBA{R: 0, G: 158, B: 115, A: 255}, false, draw.PyramidGlyph{}},
}

// drawChart writes a PNG with two panels against the number of secrets:
// the median wall time and the median peak RSS of each tool, both on
// logarithmic axes.
func drawChart(path string, sizes []*sizeResult) error {
	timePlot := newLogPlot("Wall time of one pass (median)", "seconds")
	rssPlot := newLogPlot("Peak RSS (median)", "MB")
	var sizeTicks []float64
	for _, s := range sizes {
		sizeTicks = append(sizeTicks, float64(s.N))
	}
	for _, p := range []*plot.Plot{timePlot, rssPlot} {
		p.X.Tick.Marker = fixedTicks(sizeTicks)
	}

	for _, series := range chartSeries {
		var times, rss plotter.XYs
		for _, s := range sizes {
			samples, ok := s.Samples[series.key]
			if !ok {
				continue
			}
			m := summarize(samples)
			times = append(times, plotter.XY{X: float64(s.N), Y: m.Wall.Seconds()})
			rss = append(rss, plotter.XY{X: float64(s.N), Y: float64(m.MaxRSS) / 1e6})
		}
		if len(times) == 0 {
			continue
		}
		for _, target := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{timePlot, times}, {rssPlot, rss}} {
			line, points, err := plotter.NewLinePoints(target.xys)
			if err != nil {
				return err
			}
			line.Color = series.color
			line.Width = vg.Points(2)
			if series.dashed {
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			points.Color = series.color
			points.Shape = series.shape
			points.Radius = vg.Points(3.5)
			target.p.Add(line, points)
			target.p.Legend.Add(series.label, line, points)
		}
	}
	for _, p := range []*plot.Plot{timePlot, rssPlot} {
		// The legend sits in the top left corner, so the axis reaches
		// about half a decade above the highest point to keep the lines
		// out from under it.
		p.Y.Max *= 4
		p.Y.Tick.Marker = logTicks{}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.XOffs = vg.Points(8)
		p.Legend.YOffs = -vg.Points(4)
	}

	img := vgimg.NewWith(vgimg.UseWH(13*vg.Inch, 5.5*vg.Inch), vgimg.UseDPI(100))
	dc := draw.New(img)
	tiles := draw.Tiles{
		Rows: 1, Cols: 2,
		PadTop: vg.Points(10), PadBottom: vg.Points(10),
		PadLeft: vg.Points(10), PadRight: vg.Points(14),
		PadX: vg.Points(36),
	}
	canvases := plot.Align([][]*plot.Plot{{timePlot, rssPlot}}, tiles, dc)
	timePlot.Draw(canvases[0][0])
	rssPlot.Draw(canvases[0][1])

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newLogPlot(title, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.X.Label.Text = "secrets (one file each)"
	p.Y.Label.Text = yLabel
	for _, axis := range []*plot.Axis{&p.X, &p.Y} {
		axis.Scale = plot.LogScale{}
		axis.Label.TextStyle.Font.Size = vg.Points(12)
		axis.Tick.Label.Font.Size = vg.Points(11)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	p.Add(plotter.NewGrid())
	return p
}

// fixedTicks labels exactly the given values, with thousands separators.
type fixedTicks []float64

func (t fixedTicks) Ticks(_, _ float64) []plot.Tick {
	ticks := make([]plot.Tick, len(t))
	for i, v := range t {
		ticks[i] = plot.Tick{Value: v, Label: groupThousands(int64(v))}
	}
	return ticks
}

func groupThousands(v int64) string {
	s := strconv.FormatInt(v, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// logTicks labels 1, 2 and 5 times each power of ten in the range, and
// marks the other integer multiples as minor ticks.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for exp := math.Floor(math.Log10(min)); exp <= math.Ceil(math.Log10(max)); exp++ {
		base := math.Pow(10, exp)
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < min*0.999 || v > max*1.001 {
				continue
			}
			label := ""
			if m == 1 || m == 2 || m == 5 {
				label = strconv.FormatFloat(v, 'g', -1, 64)
				if exp >= 3 {
					label = fmt.Sprintf("%.0f", v)
				}
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}
