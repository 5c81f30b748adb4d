/* svg.h - the figures of the decar command line: SVG line plots with labelled axes, and contact sheets of images
   (grayscale PNGs inlined as base64). Plain writers to a FILE; include after decar.h (it uses decar_crc32).
   Kept apart from examples/decar.c so that the commands only parse, call the library and print. */
#ifndef DECAR_SVG_H
#define DECAR_SVG_H

/* a line of a plot: n points (x[i], y[i]) and its legend; lo, hi (n, or NULL): a shaded band around it (an
   interval) */
typedef struct {
    double *x, *y;
    int n, cap;
    const char *name;
    double *lo, *hi;
} series;

/* the length of the valid UTF-8 sequence at s (1-4; no overlongs, surrogates or code points past U+10FFFF), or 0 */
static int utf8_len(const unsigned char *s) {
    int n, k;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, cp = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, cp = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}
/* s as XML text, at most max characters then "...": escapes, and any byte that is not valid UTF-8 or is a control
   character XML forbids becomes U+FFFD (a model's greedy caption may be any bytes; the SVG must stay valid) */
static void xml_text(FILE *f, const char *s, int max) {
    const unsigned char *u = (const unsigned char *)s;
    int chars = 0, n;
    for (; *u && chars < max; u += n, chars++) {
        n = utf8_len(u);
        if (n == 0 || (*u < 0x20 && *u != '\t')) {
            fputs("\xEF\xBF\xBD", f);
            n = 1;
        } else if (*u == '<')
            fputs("&lt;", f);
        else if (*u == '>')
            fputs("&gt;", f);
        else if (*u == '&')
            fputs("&amp;", f);
        else
            fwrite(u, 1, (size_t)n, f);
    }
    if (*u) fputs("...", f);
}

/* what a plot shows besides its lines: titles, a logarithmic x axis (ticks at powers of ten), a dashed horizontal
   reference line, and how lines are told apart (colors colours cycle; each further cycle is drawn dashed when odd,
   and every second pair of cycles has square markers instead of round ones) */
typedef struct {
    const char *title, *xlabel, *ylabel;
    int logx;
    int colors;
    int has_hline;
    double hline;
} plot_axes;

/* a tick label: 1.5M, 20k, 3e+14 */
static void tick_text(char *tick, size_t n, double v) {
    if (fabs(v) >= 1e9)
        snprintf(tick, n, "%.2g", v);
    else if (fabs(v) >= 1e6)
        snprintf(tick, n, "%.3gM", v / 1e6);
    else if (fabs(v) >= 1e3)
        snprintf(tick, n, "%.3gk", v / 1e3);
    else
        snprintf(tick, n, "%.3g", v);
}

/* One SVG line plot: every series against a shared x axis (linear from 0, or logarithmic over the data's range) and
   y axis (the data's range, with the reference line), ticks, axis titles, a marker at every point, a legend. */
static void svg_plot(FILE *f, const series *sr, int n, const plot_axes *ax) {
    static const char *palette[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
    int ncol = ax->colors > 0 && ax->colors <= 10 ? ax->colors : 10;
    double xmin = 1e300, xmax = ax->logx ? -1e300 : 0, ymin = 1e300, ymax = -1e300;
    int i, k, points = 0;
    for (i = 0; i < n; i++)
        for (k = 0; k < sr[i].n; k++) {
            double x = ax->logx ? log10(sr[i].x[k]) : sr[i].x[k];
            xmin = x < xmin ? x : xmin;
            xmax = x > xmax ? x : xmax;
            ymin = sr[i].y[k] < ymin ? sr[i].y[k] : ymin;
            ymax = sr[i].y[k] > ymax ? sr[i].y[k] : ymax;
            if (sr[i].lo) { /* the band is inside the plot too */
                ymin = sr[i].lo[k] < ymin ? sr[i].lo[k] : ymin;
                ymax = sr[i].hi[k] > ymax ? sr[i].hi[k] : ymax;
            }
            points++;
        }
    if (!ax->logx) xmin = 0;
    if (ax->has_hline) {
        ymin = ax->hline < ymin ? ax->hline : ymin;
        ymax = ax->hline > ymax ? ax->hline : ymax;
    }
    if (ymax <= ymin) ymax = ymin + 1;
    if (xmax <= xmin) xmax = xmin + 1;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='860' height='480' font-family='sans-serif' "
               "font-size='12'>\n<rect width='860' height='480' fill='white'/>\n");
    fprintf(f, "<text x='330' y='20' text-anchor='middle' font-size='14'>");
    xml_text(f, ax->title, 200);
    fprintf(f, "</text>\n<line x1='70' y1='400' x2='590' y2='400' stroke='black'/>");
    fprintf(f, "<line x1='70' y1='40' x2='70' y2='400' stroke='black'/>\n");
    fprintf(f, "<text x='330' y='440' text-anchor='middle'>");
    xml_text(f, ax->xlabel, 200);
    fprintf(f, "</text>\n<text x='18' y='220' text-anchor='middle' transform='rotate(-90 18 220)'>");
    xml_text(f, ax->ylabel, 200);
    fprintf(f, "</text>\n");
    for (k = 0; k <= 4; k++) { /* y ticks at fifths; linear x ticks at fifths */
        double yv = ymin + (ymax - ymin) * k / 4;
        char tick[32];
        fprintf(f, "<text x='65' y='%.1f' text-anchor='end'>%.*f</text>\n", 400 - 360.0 * k / 4 + 4,
                ymax - ymin < 0.1 ? 3 : 2, yv);
        if (ax->logx) continue;
        tick_text(tick, sizeof tick, xmax * k / 4);
        fprintf(f, "<text x='%.1f' y='416' text-anchor='middle'>%s</text>\n", 70 + 520.0 * k / 4, tick);
    }
    if (ax->logx) { /* x ticks at the powers of ten in range, and at both ends */
        double e;
        for (e = ceil(xmin); e <= floor(xmax); e += 1) {
            fprintf(f, "<line x1='%.1f' y1='400' x2='%.1f' y2='405' stroke='black'/>",
                    70 + 520 * (e - xmin) / (xmax - xmin), 70 + 520 * (e - xmin) / (xmax - xmin));
            fprintf(f, "<text x='%.1f' y='418' text-anchor='middle'>1e%d</text>\n",
                    70 + 520 * (e - xmin) / (xmax - xmin), (int)e);
        }
        for (k = 0; k < 2; k++) {
            char tick[32];
            tick_text(tick, sizeof tick, pow(10, k ? xmax : xmin));
            fprintf(f, "<text x='%d' y='432' text-anchor='middle' fill='#555'>%s</text>\n", k ? 590 : 70, tick);
        }
    }
    if (ax->has_hline) {
        double py = 400 - 360 * (ax->hline - ymin) / (ymax - ymin);
        fprintf(f, "<line x1='70' y1='%.1f' x2='590' y2='%.1f' stroke='black' stroke-dasharray='2,3'/>\n", py, py);
    }
    for (i = 0; i < n; i++) {
        const char *color = palette[i % ncol];
        const char *dash = (i / ncol) % 2 ? " stroke-dasharray='6,4'" : "";
        int square = (i / (2 * ncol)) % 2; /* every second pair of colour cycles: square markers */
        if (sr[i].lo) { /* the band: along lo, back along hi, filled in the line's colour */
            fprintf(f, "<polygon fill='%s' fill-opacity='0.15' stroke='none' points='", color);
            for (k = 0; k < 2 * sr[i].n; k++) {
                int j = k < sr[i].n ? k : 2 * sr[i].n - 1 - k;
                double x = ax->logx ? log10(sr[i].x[j]) : sr[i].x[j], v = k < sr[i].n ? sr[i].lo[j] : sr[i].hi[j];
                fprintf(f, "%.1f,%.1f ", 70 + 520 * (x - xmin) / (xmax - xmin), 400 - 360 * (v - ymin) / (ymax - ymin));
            }
            fprintf(f, "'/>\n");
        }
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5'%s points='", color, dash);
        for (k = 0; k < sr[i].n; k++) {
            double x = ax->logx ? log10(sr[i].x[k]) : sr[i].x[k];
            double px = 70 + 520 * (x - xmin) / (xmax - xmin);
            double py = 400 - 360 * (sr[i].y[k] - ymin) / (ymax - ymin);
            fprintf(f, "%.1f,%.1f ", px, py);
        }
        fprintf(f, "'/>\n");
        for (k = 0; points <= 200 && k < sr[i].n; k++) { /* markers, when the points are few enough to see */
            double x = ax->logx ? log10(sr[i].x[k]) : sr[i].x[k];
            double px = 70 + 520 * (x - xmin) / (xmax - xmin);
            double py = 400 - 360 * (sr[i].y[k] - ymin) / (ymax - ymin);
            if (square)
                fprintf(f, "<rect x='%.1f' y='%.1f' width='5' height='5' fill='%s'/>", px - 2.5, py - 2.5, color);
            else
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>", px, py, color);
        }
        fprintf(f, "<line x1='600' y1='%d' x2='620' y2='%d' stroke='%s' stroke-width='1.5'%s/>", 46 + 16 * i,
                46 + 16 * i, color, dash);
        if (square) /* the legend shows the marker too */
            fprintf(f, "<rect x='607.5' y='%.1f' width='5' height='5' fill='%s'/>", 43.5 + 16 * i, color);
        else
            fprintf(f, "<circle cx='610' cy='%d' r='2.5' fill='%s'/>", 46 + 16 * i, color);
        fprintf(f, "<text x='625' y='%d' fill='%s'>", 50 + 16 * i, color);
        xml_text(f, sr[i].name, 36);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
}

/* base64 of p[0..n) */
static void b64(FILE *f, const uint8_t *p, size_t n) {
    static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    for (i = 0; i + 2 < n; i += 3) {
        fputc(t[p[i] >> 2], f);
        fputc(t[((p[i] & 3) << 4) | (p[i + 1] >> 4)], f);
        fputc(t[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)], f);
        fputc(t[p[i + 2] & 63], f);
    }
    if (n - i == 1) fprintf(f, "%c%c==", t[p[i] >> 2], t[(p[i] & 3) << 4]);
    if (n - i == 2)
        fprintf(f, "%c%c%c=", t[p[i] >> 2], t[((p[i] & 3) << 4) | (p[i + 1] >> 4)], t[(p[i + 1] & 15) << 2]);
}
static void put32(uint8_t *p, uint32_t v) { /* big-endian, as PNG stores its integers */
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
/* A w x h grayscale PNG of img in out (at least 64 + h * (w + 1) + 16 bytes): IHDR, one IDAT holding a zlib stream
   of one stored (uncompressed) deflate block of the filtered rows, IEND. Returns its size. */
static size_t png_gray(const uint8_t *img, int w, int h, uint8_t *out) {
    static const uint8_t sig[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };
    size_t raw = (size_t)h * (w + 1), o = 8, k = 8;
    uint32_t a = 1, b = 0;
    uint8_t *chunk;
    int x, y;
    memcpy(out, sig, 8);
    put32(out + o, 13);
    memcpy(out + o + 4, "IHDR", 4);
    put32(out + o + 8, (uint32_t)w);
    put32(out + o + 12, (uint32_t)h);
    memcpy(out + o + 16, "\x08\x00\x00\x00\x00", 5); /* 8-bit gray, deflate, no filter, no interlace */
    put32(out + o + 21, decar_crc32(out + o + 4, 17));
    o += 25;
    chunk = out + o;
    put32(chunk, (uint32_t)(raw + 2 + 5 + 4));
    memcpy(chunk + 4, "IDAT", 4);
    chunk[k++] = 0x78; /* zlib header */
    chunk[k++] = 0x01;
    chunk[k++] = 1; /* the final block, stored */
    chunk[k++] = (uint8_t)(raw & 255);
    chunk[k++] = (uint8_t)(raw >> 8);
    chunk[k++] = (uint8_t)(~raw & 255);
    chunk[k++] = (uint8_t)((~raw >> 8) & 255);
    for (y = 0; y < h; y++) {
        chunk[k++] = 0; /* filter: none */
        for (x = 0; x < w; x++) chunk[k++] = img[y * w + x];
    }
    /* Adler-32 of the filtered rows */
    for (y = 0; y < h; y++) {
        b = (b + a) % 65521;
        for (x = 0; x < w; x++) {
            a = (a + img[y * w + x]) % 65521;
            b = (b + a) % 65521;
        }
    }
    put32(chunk + k, (b << 16) | a);
    k += 4;
    put32(chunk + k, decar_crc32(chunk + 4, k - 4));
    k += 4;
    o += k;
    put32(out + o, 0);
    memcpy(out + o + 4, "IEND", 4);
    put32(out + o + 8, decar_crc32(out + o + 4, 4));
    return o + 12;
}

/* A contact sheet: 6 images a row, each with its generated caption (green when it is exact, red otherwise), the true
   caption in grey, and the expert that answered. The grid holds the first 48 images; a last row shows up to 6 exact
   captions from the images after them (exact matches are rare, and a sheet should show what one looks like), under
   a title that says so. The last line counts the exact captions: in the grid, and of all images captioned. f NULL
   writes nothing. */
typedef struct {
    FILE *f;
    int shown, exact, extra, all, all_exact;
} sheet_t;
static void sheet_open(sheet_t *s, FILE *f, const char *label) {
    memset(s, 0, sizeof *s);
    s->f = f;
    if (!f) return;
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='1200' height='%d' font-family='monospace' "
            "font-size='10'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            80 + 9 * 110);
    fprintf(f, "<text x='10' y='18' font-size='13' font-family='sans-serif'>");
    xml_text(f, label, 40);
    fprintf(f, ": held-out images, the routed ensemble's greedy caption (green = exact) and the expert that answered "
               "(grey: the true caption)</text>\n");
}
static void sheet_add(sheet_t *s, int q, const uint8_t *img, int side, const char *gen, const char *truth, int exact,
                      int expert, double w) {
    uint8_t png[64 + 64 * 65 + 64];
    size_t pl;
    int x0, y0;
    if (!s->f || side > 64) return;
    s->all++;
    s->all_exact += exact != 0;
    if (q < 48) {
        x0 = 10 + (q % 6) * 198;
        y0 = 30 + (q / 6) * 110;
        s->shown++;
        s->exact += exact != 0;
    } else if (exact && s->extra < 6) { /* the row of exact captions from the rest */
        x0 = 10 + s->extra++ * 198;
        y0 = 30 + 8 * 110 + 24;
    } else
        return;
    pl = png_gray(img, side, side, png);
    fprintf(s->f,
            "<image x='%d' y='%d' width='64' height='64' style='image-rendering:pixelated' "
            "href='data:image/png;base64,",
            x0, y0);
    b64(s->f, png, pl);
    fprintf(s->f, "'/>\n<text x='%d' y='%d' fill='%s'>", x0, y0 + 76, exact ? "#080" : "#c00");
    xml_text(s->f, gen, 27); /* 30 columns of 6 px at most: < the 198 px pitch */
    fprintf(s->f, "</text>\n<text x='%d' y='%d' fill='#888'>", x0, y0 + 88);
    xml_text(s->f, truth, 27);
    fprintf(s->f, "</text>\n<text x='%d' y='%d' fill='#339'>expert %d (w %.2f)</text>\n", x0 + 70, y0 + 12, expert, w);
}
static void sheet_close(sheet_t *s) {
    int rows = (s->shown + 5) / 6;
    if (!s->f) return;
    if (s->extra)
        fprintf(s->f,
                "<text x='10' y='%d' font-size='12' font-family='sans-serif'>exact captions among the other %d images "
                "captioned (up to 6 shown):</text>\n",
                30 + 8 * 110 + 14, s->all - s->shown);
    fprintf(s->f,
            "<text x='10' y='%d' font-size='12' font-family='sans-serif'>%d of the %d captions in the grid are exact; "
            "%d of all %d captioned</text>\n",
            s->extra ? 30 + 9 * 110 + 30 : 40 + rows * 110, s->exact, s->shown, s->all_exact, s->all);
    fprintf(s->f, "</svg>\n");
}

#endif
