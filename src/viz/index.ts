/** Figures for `convlora experiment`: a raster canvas, a bitmap font, bar charts and overlay grids, as PNG. */
export { Canvas, maskContour, type Rect, type Rgb } from './canvas.js';
export { ADVANCE, CAP_HEIGHT, GLYPH_HEIGHT, GLYPH_WIDTH, LINE_HEIGHT, drawText, drawTextUp, fitText, glyphBitmap, glyphChars, hasGlyph, textHeight, textWidth } from './font.js';
export { BAR_CHART, SERIES_COLORS, barChart, niceStep, type BarChartOptions, type BarSeries } from './charts.js';
export { OVERLAY, overlayGrid, overlayGridLayout, type OverlayGridLayout, type OverlayGridOptions, type OverlayRow } from './overlay.js';
export { encodePng } from './png.js';
