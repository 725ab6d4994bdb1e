/* Winograd F(4x4, 3x3) transforms (Lavin and Gray 2016, points 0, +-1,
 * +-2, inf), included by ukernels.inc.c once per (dtype, ISA). A 6x6 input
 * tile d and a 3x3 filter g give a 4x4 output tile
 *     Y = A^T [ (G g G^T) * (B^T d B) ] A
 * where * is elementwise: 36 products per tile and channel pair instead of
 * 144. The 36 products of every position xi = 6i + j are one GEMM over the
 * channels, done by the gemm micro-kernel; these kernels only transform.
 * Tiles are vectorised VL at a time along a tile row (adjacent tiles are 4
 * columns apart), columns split into their 4 phases with register shuffles
 * so that every load and store is contiguous. Each output is one fixed
 * expression of its inputs: the same bits whatever the blocking or the
 * threads. */

/* 1-D input transform B^T d (6 -> 6) */
#define WINO_IN1D(d0, d1, d2, d3, d4, d5, v0, v1, v2, v3, v4, v5)           \
    do {                                                                    \
        __typeof__(d0) p_ = (d4) - 4 * (d2), q_ = (d3) - 4 * (d1);          \
        __typeof__(d0) r_ = (d4) - (d2), s_ = 2 * ((d3) - (d1));            \
        v0 = 4 * (d0) - 5 * (d2) + (d4);                                    \
        v1 = p_ + q_;                                                       \
        v2 = p_ - q_;                                                       \
        v3 = r_ + s_;                                                       \
        v4 = r_ - s_;                                                       \
        v5 = 4 * (d1) - 5 * (d3) + (d5);                                    \
    } while (0)

/* 1-D output transform A^T m (6 -> 4) */
#define WINO_OUT1D(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3)                  \
    do {                                                                    \
        __typeof__(m0) a_ = (m1) + (m2), b_ = (m1) - (m2);                  \
        __typeof__(m0) c_ = (m3) + (m4), e_ = (m3) - (m4);                  \
        y0 = (m0) + a_ + c_;                                                \
        y1 = b_ + 2 * e_;                                                   \
        y2 = a_ + 4 * c_;                                                   \
        y3 = b_ + 8 * e_ + (m5);                                            \
    } while (0)

/* 1-D filter transform G g (3 -> 6) */
#define WINO_WT1D(g0, g1, g2, u0, u1, u2, u3, u4, u5)                       \
    do {                                                                    \
        __typeof__(g0) s_ = (g0) + (g2);                                    \
        __typeof__(g0) t_ = (g0) * (T)(1.0 / 24) + (g2) * (T)(1.0 / 6);     \
        u0 = (g0) * (T)0.25;                                                \
        u1 = ((g1) + s_) * (T)(-1.0 / 6);                                   \
        u2 = ((g1) - s_) * (T)(1.0 / 6);                                    \
        u3 = t_ + (g1) * (T)(1.0 / 12);                                     \
        u4 = t_ - (g1) * (T)(1.0 / 12);                                     \
        u5 = (g2);                                                          \
    } while (0)

/* Column phases: y_p[t] = x[4t + p] for one vector of t, and back. */
#if VL >= 4 && (defined(__clang__) || __GNUC__ >= 12)
#if VL == 4
#define CC_EV 0, 2, 4, 6
#define CC_OD 1, 3, 5, 7
#define CC_ZL 0, 4, 1, 5
#define CC_ZH 2, 6, 3, 7
#elif VL == 8
#define CC_EV 0, 2, 4, 6, 8, 10, 12, 14
#define CC_OD 1, 3, 5, 7, 9, 11, 13, 15
#define CC_ZL 0, 8, 1, 9, 2, 10, 3, 11
#define CC_ZH 4, 12, 5, 13, 6, 14, 7, 15
#else
#define CC_EV 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define CC_OD 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define CC_ZL 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define CC_ZH 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#endif
static inline void CC_FN(_split4)(const T *restrict x, VEC *restrict y)
{
    VEC a = *(const UVEC *)x, b = *(const UVEC *)(x + VL);
    VEC c = *(const UVEC *)(x + 2 * VL), d = *(const UVEC *)(x + 3 * VL);
    VEC e = __builtin_shufflevector(a, b, CC_EV), o = __builtin_shufflevector(a, b, CC_OD);
    VEC f = __builtin_shufflevector(c, d, CC_EV), g = __builtin_shufflevector(c, d, CC_OD);
    y[0] = __builtin_shufflevector(e, f, CC_EV);
    y[2] = __builtin_shufflevector(e, f, CC_OD);
    y[1] = __builtin_shufflevector(o, g, CC_EV);
    y[3] = __builtin_shufflevector(o, g, CC_OD);
}
static inline void CC_FN(_join4)(const VEC *restrict y, T *restrict x)
{
    VEC e = __builtin_shufflevector(y[0], y[2], CC_ZL), f = __builtin_shufflevector(y[0], y[2], CC_ZH);
    VEC o = __builtin_shufflevector(y[1], y[3], CC_ZL), g = __builtin_shufflevector(y[1], y[3], CC_ZH);
    *(UVEC *)x = __builtin_shufflevector(e, o, CC_ZL);
    *(UVEC *)(x + VL) = __builtin_shufflevector(e, o, CC_ZH);
    *(UVEC *)(x + 2 * VL) = __builtin_shufflevector(f, g, CC_ZL);
    *(UVEC *)(x + 3 * VL) = __builtin_shufflevector(f, g, CC_ZH);
}
#undef CC_EV
#undef CC_OD
#undef CC_ZL
#undef CC_ZH
#else
static inline void CC_FN(_split4)(const T *restrict x, VEC *restrict y)
{
    T t[4][VL];
    for (int i = 0; i < VL; i++)
        for (int p = 0; p < 4; p++)
            t[p][i] = x[4 * i + p];
    for (int p = 0; p < 4; p++)
        __builtin_memcpy(&y[p], t[p], sizeof(VEC));
}
static inline void CC_FN(_join4)(const VEC *restrict y, T *restrict x)
{
    T t[4][VL];
    for (int p = 0; p < 4; p++)
        __builtin_memcpy(t[p], &y[p], sizeof(VEC));
    for (int i = 0; i < VL; i++)
        for (int p = 0; p < 4; p++)
            x[4 * i + p] = t[p][i];
}
#endif

/* dst[l] = lane l of v, l < min(left, VL) */
static inline void CC_FN(_store_lanes)(T *restrict dst, VEC v, size_t left)
{
    if (left >= VL) {
        *(UVEC *)dst = v;
    } else {
        T tmp[VL];
        __builtin_memcpy(tmp, &v, sizeof tmp);
        for (size_t l = 0; l < left; l++)
            dst[l] = tmp[l];
    }
}

/* Column phases of the input tiles of n adjacent tiles of one tile row:
 * rows holds the tile row's 6 padded input rows at stride ldr, each
 * starting at the first tile's left edge and readable for
 * 4 * round_up(n, VL) + 4 elements (the caller zero-pads);
 *     ph[(6r + p)*ldp + t] = rows[r*ldr + 4t + p], r, p < 6, t < n
 * (written up to t < round_up(n, VL)). The six phases of every tile are
 * stored, so the tile rows of a block can be split one after another into
 * one ph (each overwriting the tail of the one before) and transformed
 * together with whole vectors of tiles. */
static void WINO_SPLIT(size_t n, const T *restrict rows, size_t ldr,
                       T *restrict ph, size_t ldp)
{
    for (int r = 0; r < 6; r++)
        for (size_t t = 0; t < n; t += VL) {
            VEC y[4], z[4];
            CC_FN(_split4)(rows + r * ldr + 4 * t, y);
            CC_FN(_split4)(rows + r * ldr + 4 * t + 4, z);  /* columns 4t + 4, 4t + 5 */
            for (int p = 0; p < 4; p++)
                *(UVEC *)(ph + (6 * r + p) * ldp + t) = y[p];
            *(UVEC *)(ph + (6 * r + 4) * ldp + t) = z[0];
            *(UVEC *)(ph + (6 * r + 5) * ldp + t) = z[1];
        }
}

/* Input transform of n tiles split by WINO_SPLIT into ph (readable up to
 * round_up(n, VL) tiles): v[xi*ldv + t] = (B^T d_t B)[xi], t < n. */
static void WINO_IN(size_t n, const T *restrict ph, size_t ldp,
                    T *restrict v, size_t ldv)
{
    for (size_t t = 0; t < n; t += VL) {
        VEC z[6][6];
        for (int r = 0; r < 6; r++) {  /* along the row: d B */
            const T *p = ph + 6 * r * ldp + t;
            WINO_IN1D(*(const UVEC *)p, *(const UVEC *)(p + ldp),
                      *(const UVEC *)(p + 2 * ldp), *(const UVEC *)(p + 3 * ldp),
                      *(const UVEC *)(p + 4 * ldp), *(const UVEC *)(p + 5 * ldp),
                      z[r][0], z[r][1], z[r][2], z[r][3], z[r][4], z[r][5]);
        }
        size_t left = n - t;
        for (int j = 0; j < 6; j++) {  /* down the columns: B^T (d B) */
            VEC o[6];
            WINO_IN1D(z[0][j], z[1][j], z[2][j], z[3][j], z[4][j], z[5][j],
                      o[0], o[1], o[2], o[3], o[4], o[5]);
            for (int i = 0; i < 6; i++) {
                CC_FN(_store_lanes)(v + (6 * i + j) * ldv + t, o[i], left);
            }
        }
    }
}

/* Output transform of n adjacent tiles: m[xi*ldm + t] (t < n, readable up
 * to round_up(n, VL)) -> y[a*ldy + 4t + b] = (A^T m_t A)[a][b] + bias,
 * a, b < 4, for whole vectors of tiles (y holds 4 * round_up(n, VL)
 * columns a row). */
static void WINO_OUT(size_t n, const T *restrict m, size_t ldm, T bias,
                     T *restrict y, size_t ldy)
{
    for (size_t t = 0; t < n; t += VL) {
        VEC s[6][4];
        for (int i = 0; i < 6; i++) {  /* along the row: m A */
            const T *p = m + 6 * i * ldm + t;
            WINO_OUT1D(*(const UVEC *)p, *(const UVEC *)(p + ldm),
                       *(const UVEC *)(p + 2 * ldm), *(const UVEC *)(p + 3 * ldm),
                       *(const UVEC *)(p + 4 * ldm), *(const UVEC *)(p + 5 * ldm),
                       s[i][0], s[i][1], s[i][2], s[i][3]);
        }
        VEC o[4][4];
        for (int b = 0; b < 4; b++)  /* down the columns: A^T (m A) */
            WINO_OUT1D(s[0][b], s[1][b], s[2][b], s[3][b], s[4][b], s[5][b],
                       o[0][b], o[1][b], o[2][b], o[3][b]);
        for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 4; b++)
                o[a][b] += bias;
            CC_FN(_join4)(o[a], y + a * ldy + 4 * t);
        }
    }
}

/* Lanes of a vector from p[o[0]], p[o[1]], ...: built in registers (a
 * vector load of lanes just stored one by one stalls on store forwarding) */
#if VL == 1
#define CC_LANES(p, o) ((p)[(o)[0]])
#elif VL == 4
#define CC_LANES(p, o) ((VEC){(p)[(o)[0]], (p)[(o)[1]], (p)[(o)[2]], (p)[(o)[3]]})
#elif VL == 8
#define CC_LANES(p, o) ((VEC){(p)[(o)[0]], (p)[(o)[1]], (p)[(o)[2]], (p)[(o)[3]], \
                              (p)[(o)[4]], (p)[(o)[5]], (p)[(o)[6]], (p)[(o)[7]]})
#else
#define CC_LANES(p, o) ((VEC){(p)[(o)[0]], (p)[(o)[1]], (p)[(o)[2]], (p)[(o)[3]], \
                              (p)[(o)[4]], (p)[(o)[5]], (p)[(o)[6]], (p)[(o)[7]], \
                              (p)[(o)[8]], (p)[(o)[9]], (p)[(o)[10]], (p)[(o)[11]], \
                              (p)[(o)[12]], (p)[(o)[13]], (p)[(o)[14]], (p)[(o)[15]]})
#endif

/* Filter transform of one MR-row filter block over C input channels:
 * filter (m, c) has tap (kh, kw) at g[m*ms + c*cs + (3*kh + kw)*ts] (ts = -1
 * with g at tap 8 reads it rotated by 180 degrees); for m < nm (nm >= 1),
 *     u[xi*ldu + c*mr + m] = (G g G^T)[xi],
 * and rows nm <= m < mr repeat filter nm - 1 (their sums are never read).
 * Vectors run along m and are stored whole: one that runs past a row's mr
 * values spills into the next c's row, written after it, or for the last c
 * into the gap before the next xi (ldu >= C*mr + VL). */
static void WINO_WT(size_t nm, size_t C, const T *restrict g, ptrdiff_t ms,
                    ptrdiff_t cs, ptrdiff_t ts, T *restrict u, size_t mr,
                    size_t ldu)
{
    ptrdiff_t off[MR + VL];  /* mr <= MR */
    for (size_t m = 0; m < mr + VL; m++)
        off[m] = (ptrdiff_t)(m < nm ? m : nm - 1) * ms;
    for (size_t c = 0; c < C; c++)
        for (size_t m0 = 0; m0 < mr; m0 += VL) {
            VEC k9[9];
            for (int k = 0; k < 9; k++)
                k9[k] = CC_LANES(g + (ptrdiff_t)c * cs + k * ts, off + m0);
            VEC h[6][3], o[36];
            for (int q = 0; q < 3; q++)  /* down the columns: G g */
                WINO_WT1D(k9[q], k9[3 + q], k9[6 + q], h[0][q], h[1][q],
                          h[2][q], h[3][q], h[4][q], h[5][q]);
            for (int i = 0; i < 6; i++)  /* along the rows: (G g) G^T */
                WINO_WT1D(h[i][0], h[i][1], h[i][2], o[6 * i], o[6 * i + 1],
                          o[6 * i + 2], o[6 * i + 3], o[6 * i + 4], o[6 * i + 5]);
            for (int xi = 0; xi < 36; xi++)
                *(UVEC *)(u + xi * ldu + c * mr + m0) = o[xi];
        }
}

/* 1-D output-gradient transform A dy (4 -> 6) */
#define WINO_GOUT1D(y0, y1, y2, y3, m0, m1, m2, m3, m4, m5)                 \
    do {                                                                    \
        __typeof__(y0) e_ = (y0) + (y2), o_ = (y1) + (y3);                  \
        __typeof__(y0) f_ = (y0) + 4 * (y2), q_ = 2 * (y1) + 8 * (y3);      \
        m0 = (y0);                                                          \
        m1 = e_ + o_;                                                       \
        m2 = e_ - o_;                                                       \
        m3 = f_ + q_;                                                       \
        m4 = f_ - q_;                                                       \
        m5 = (y3);                                                          \
    } while (0)

/* 1-D filter-gradient transform G^T u (6 -> 3) */
#define WINO_WGRAD1D(u0, u1, u2, u3, u4, u5, w0, w1, w2)                    \
    do {                                                                    \
        __typeof__(u0) s_ = ((u1) + (u2)) * (T)(-1.0 / 6);                  \
        __typeof__(u0) t_ = (u3) + (u4);                                    \
        w0 = (u0) * (T)0.25 + s_ + t_ * (T)(1.0 / 24);                      \
        w1 = ((u2) - (u1)) * (T)(1.0 / 6) + ((u3) - (u4)) * (T)(1.0 / 12);  \
        w2 = s_ + t_ * (T)(1.0 / 6) + (u5);                                 \
    } while (0)

/* Output-gradient transform of n adjacent tiles of one tile row, for the
 * weight gradient: rows holds the tile row's 4 output-gradient rows at
 * stride ldr (zero past the output), each starting at the first tile's
 * left edge and readable for 4 * round_up(n, VL) elements; ph: scratch of
 * 16 * round_up(n, VL); v[xi*ldv + t] = (A dy_t A^T)[xi], t < n. */
static void WINO_GOUT(size_t n, const T *restrict rows, size_t ldr,
                      T *restrict ph, T *restrict v, size_t ldv)
{
    size_t nv = (n + VL - 1) / VL * VL;
    for (int r = 0; r < 4; r++)
        for (size_t t = 0; t < nv; t += VL) {
            VEC y[4];
            CC_FN(_split4)(rows + r * ldr + 4 * t, y);
            for (int p = 0; p < 4; p++)
                *(UVEC *)(ph + (4 * r + p) * nv + t) = y[p];
        }
    for (size_t t = 0; t < n; t += VL) {
        VEC z[4][6];
        for (int r = 0; r < 4; r++) {  /* along the row */
            const T *p = ph + 4 * r * nv + t;
            WINO_GOUT1D(*(const UVEC *)p, *(const UVEC *)(p + nv),
                        *(const UVEC *)(p + 2 * nv), *(const UVEC *)(p + 3 * nv),
                        z[r][0], z[r][1], z[r][2], z[r][3], z[r][4], z[r][5]);
        }
        size_t left = n - t;
        for (int j = 0; j < 6; j++) {  /* down the columns */
            VEC o[6];
            WINO_GOUT1D(z[0][j], z[1][j], z[2][j], z[3][j], o[0], o[1], o[2],
                        o[3], o[4], o[5]);
            for (int i = 0; i < 6; i++) {
                CC_FN(_store_lanes)(v + (6 * i + j) * ldv + t, o[i], left);
            }
        }
    }
}

/* Filter gradient from the transformed one, for n input channels of one
 * output channel: du[xi*ldu + c] (c < n, readable to round_up(n, VL)) ->
 * dw[c*9 + 3*kh + kw] = (G^T du_c G)[kh][kw]. */
static void WINO_WGRAD(size_t n, const T *restrict du, size_t ldu,
                       T *restrict dw)
{
    for (size_t c0 = 0; c0 < n; c0 += VL) {
        VEC h[3][6], o[9];
        for (int j = 0; j < 6; j++) {  /* down the columns: G^T du */
            const T *p = du + j * ldu + c0;
            WINO_WGRAD1D(*(const UVEC *)p, *(const UVEC *)(p + 6 * ldu),
                         *(const UVEC *)(p + 12 * ldu), *(const UVEC *)(p + 18 * ldu),
                         *(const UVEC *)(p + 24 * ldu), *(const UVEC *)(p + 30 * ldu),
                         h[0][j], h[1][j], h[2][j]);
        }
        for (int i = 0; i < 3; i++)  /* along the rows: (G^T du) G */
            WINO_WGRAD1D(h[i][0], h[i][1], h[i][2], h[i][3], h[i][4], h[i][5],
                         o[3 * i], o[3 * i + 1], o[3 * i + 2]);
        size_t nl = n - c0 < VL ? n - c0 : VL;
        T tmp[9][VL];
        for (int k = 0; k < 9; k++)
            __builtin_memcpy(tmp[k], &o[k], sizeof(VEC));
        for (size_t l = 0; l < nl; l++)
            for (int k = 0; k < 9; k++)
                dw[(c0 + l) * 9 + k] = tmp[k][l];
    }
}

#undef WINO_GOUT1D
#undef WINO_WGRAD1D
#undef CC_LANES
#undef WINO_IN1D
#undef WINO_OUT1D
#undef WINO_WT1D
