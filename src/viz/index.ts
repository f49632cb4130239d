/** Figures for `convlora experiment` and `convlora demo`: SVG bar charts and overlay grids, and the raster canvas their slices are drawn on. */
export { Canvas, maskContour, type Rect, type Rgb } from './canvas.js';
export { FONT_FAMILY, Svg, escapeXml, fitText, textWidth, type TextOptions } from './svg.js';
export { BAR_CHART, SERIES_COLORS, barChart, niceStep, type BarChartOptions, type BarSeries } from './charts.js';
export { OVERLAY, overlayGrid, overlayGridLayout, type OverlayGridLayout, type OverlayGridOptions, type OverlayRow } from './overlay.js';
export { encodePng } from './png.js';
