/* The Winograd transforms of the AVX-512 kernel set (VL 16 float, 8 double,
 * MR 14), built from convcore/_csrc/kernels-avx512f.c compiled for AVX2 (GCC
 * splits the 64-byte vectors), against the scalar kernel set and, for the
 * filter transform, a plain G g G^T: every tile count 1..37 (whole vectors
 * and tails), every filter-block height, and no store past a row's gap;
 * and its transpose (16 x 16 and 8 x 8 register blocks) against plain loops.
 * Prints the mismatches; exit 1 if any. Used by tests/test_winograd_wide.py. */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include "convcore.h"
extern const cc_f32_kernels cc_f32_kernels__avx512f, cc_f32_kernels__scalar;
extern const cc_f64_kernels cc_f64_kernels__avx512f, cc_f64_kernels__scalar;
#define N 4096
static float a[N], b1[N], b2[N], ph[N];
static double ad[N], d1[N], d2[N], phd[N];
int main(void){
  srand(1); for(int i=0;i<N;i++){a[i]=rand()/(float)RAND_MAX-0.5f; ad[i]=a[i];}
  int bad=0;
  for(size_t n=1;n<=37;n++){
    size_t ldr=4*(((n+15)/16)*16+32)+16, ldv=64;
    /* wino_split, then wino_in */
    for(int i=0;i<N;i++){b1[i]=b2[i]=-7;d1[i]=d2[i]=-7;}
    size_t ldp=64;
    cc_f32_kernels__avx512f.wino_split(n,a,ldr,ph,ldp); cc_f32_kernels__avx512f.wino_in(n,ph,ldp,b1,ldv);
    cc_f32_kernels__scalar.wino_split(n,a,ldr,ph,ldp); cc_f32_kernels__scalar.wino_in(n,ph,ldp,b2,ldv);
    cc_f64_kernels__avx512f.wino_split(n,ad,ldr,phd,ldp); cc_f64_kernels__avx512f.wino_in(n,phd,ldp,d1,ldv);
    cc_f64_kernels__scalar.wino_split(n,ad,ldr,phd,ldp); cc_f64_kernels__scalar.wino_in(n,phd,ldp,d2,ldv);
    for(int i=0;i<36*64;i++){ if(fabsf(b1[i]-b2[i])>1e-5f||fabs(d1[i]-d2[i])>1e-12) {bad++; break;} }
    /* wino_gout */
    for(int i=0;i<N;i++){b1[i]=b2[i]=-7;d1[i]=d2[i]=-7;}
    cc_f32_kernels__avx512f.wino_gout(n,a,ldr,ph,b1,ldv); cc_f32_kernels__scalar.wino_gout(n,a,ldr,ph,b2,ldv);
    cc_f64_kernels__avx512f.wino_gout(n,ad,ldr,phd,d1,ldv); cc_f64_kernels__scalar.wino_gout(n,ad,ldr,phd,d2,ldv);
    for(int i=0;i<36*64;i++){ if(fabsf(b1[i]-b2[i])>1e-5f||fabs(d1[i]-d2[i])>1e-12) {bad++; break;} }
    /* wino_out: m[xi*ldm + t], y 4 rows x 4*round16(n) */
    size_t ldm=48, ldy=4*48;
    for(int i=0;i<N;i++){b1[i]=b2[i]=-7;d1[i]=d2[i]=-7;}
    cc_f32_kernels__avx512f.wino_out(n,a,ldm,0.5f,b1,ldy); cc_f32_kernels__scalar.wino_out(n,a,ldm,0.5f,b2,ldy);
    cc_f64_kernels__avx512f.wino_out(n,ad,ldm,0.5,d1,ldy); cc_f64_kernels__scalar.wino_out(n,ad,ldm,0.5,d2,ldy);
    for(int r=0;r<4;r++) for(size_t j=0;j<4*n;j++){ size_t i=r*ldy+j; if(fabsf(b1[i]-b2[i])>1e-4f||fabs(d1[i]-d2[i])>1e-11){bad++; r=4; break;} }
    /* wino_wgrad: du[xi*ldu + c], dw[c*9+k] */
    for(int i=0;i<N;i++){b1[i]=b2[i]=-7;d1[i]=d2[i]=-7;}
    cc_f32_kernels__avx512f.wino_wgrad(n,a,48,b1); cc_f32_kernels__scalar.wino_wgrad(n,a,48,b2);
    cc_f64_kernels__avx512f.wino_wgrad(n,ad,48,d1); cc_f64_kernels__scalar.wino_wgrad(n,ad,48,d2);
    for(size_t i=0;i<9*n+40;i++){ if(fabsf(b1[i]-b2[i])>1e-5f||fabs(d1[i]-d2[i])>1e-12){bad++; break;} }
  }
  /* wino_wt: nm filters of mr (MR=14 or MR2=8) over C channels, ldu >= C*mr + VL */
  for(size_t mr=8; mr<=14; mr+=6) for(size_t nm=1; nm<=mr; nm++) for(size_t C=1; C<=5; C++){
    size_t ldu=C*mr+16;
    for(int i=0;i<N;i++){b1[i]=b2[i]=-7;d1[i]=d2[i]=-7;}
    cc_f32_kernels__avx512f.wino_wt(nm,C,a,C*9,9,1,b1,mr,ldu);
    cc_f64_kernels__avx512f.wino_wt(nm,C,ad,C*9,9,1,d1,mr,ldu);
    for(size_t m=0;m<nm;m++) for(size_t c=0;c<C;c++){ /* reference G g G^T */
      static const double G[6][3]={{0.25,0,0},{-1./6,-1./6,-1./6},{-1./6,1./6,-1./6},{1./24,1./12,1./6},{1./24,-1./12,1./6},{0,0,1}};
      const double *g=ad+m*C*9+c*9; double h[6][3];
      for(int i=0;i<6;i++) for(int q=0;q<3;q++){h[i][q]=0; for(int k=0;k<3;k++) h[i][q]+=G[i][k]*g[k*3+q];}
      for(int i=0;i<6;i++) for(int j=0;j<6;j++){double u=0; for(int q=0;q<3;q++) u+=h[i][q]*G[j][q]; b2[(6*i+j)*ldu+c*mr+m]=(float)u; d2[(6*i+j)*ldu+c*mr+m]=u;}
    }
    for(int xi=0;xi<36;xi++) for(size_t c=0;c<C;c++) for(size_t m=0;m<nm;m++){ size_t i=xi*ldu+c*mr+m;
      if(fabsf(b1[i]-b2[i])>1e-5f||fabs(d1[i]-d2[i])>1e-12){bad++; printf("wt %zu %zu %zu\n",mr,nm,C); goto next;} }
    /* nothing written past the last xi row's end */
    for(size_t i=35*ldu+C*mr+16; i<35*ldu+C*mr+40; i++) if(b1[i]!=-7||d1[i]!=-7){bad++; break;}
    next:;
  }
  /* transpose: VL x VL register blocks (16 float, 8 double) and the edges,
   * exact, and nothing written outside the rows x cols block of dst */
  for(size_t rows=1; rows<=35; rows+=2) for(size_t cols=1; cols<=37; cols+=3){
    size_t lds=41, ldd=rows+5;
    for(int i=0;i<N;i++){b1[i]=-7;d1[i]=-7;}
    cc_f32_kernels__avx512f.transpose(rows,cols,a,lds,b1,ldd);
    cc_f64_kernels__avx512f.transpose(rows,cols,ad,lds,d1,ldd);
    for(size_t j=0;j<cols+1;j++) for(size_t r=0;r<ldd;r++){
      float e=(j<cols&&r<rows)?a[r*lds+j]:-7; double ed=(j<cols&&r<rows)?ad[r*lds+j]:-7;
      if(b1[j*ldd+r]!=e||d1[j*ldd+r]!=ed){bad++; printf("transpose %zu %zu\n",rows,cols); j=cols+1; break;}
    }
  }
  printf("mismatches: %d\n", bad); return bad!=0;
}
