/* Floating point: gravitational N-body simulation (one heavy body and seven
 * light ones on roughly circular orbits), semi-implicit Euler steps.  SIZE is
 * the number of steps.  Prints the total energy before and after; only
 * + - * / and sqrt are used, so every IEEE 754 target agrees to the bit. */
#include <math.h>
#include "bench_util.h"

#define NB 8

typedef struct { double x, y, z, vx, vy, vz, m; } body;

static void init(body *b) {
  b[0] = (body){0, 0, 0, 0, 0, 0, 1000.0};
  for (int i = 1; i < NB; i++) {
    double r = 1.5 + 0.75 * i;
    double m = 0.01 * i;
    double v = sqrt(b[0].m / r);
    /* alternate the starting quadrant and tilt each orbit a little */
    double s = (i & 1) ? 1.0 : -1.0;
    b[i] = (body){s * r, 0.05 * i, 0.0, 0.0, s * v, 0.02 * v, m};
  }
  /* zero the total momentum so the system does not drift */
  double px = 0, py = 0, pz = 0;
  for (int i = 1; i < NB; i++) {
    px += b[i].vx * b[i].m;
    py += b[i].vy * b[i].m;
    pz += b[i].vz * b[i].m;
  }
  b[0].vx = -px / b[0].m;
  b[0].vy = -py / b[0].m;
  b[0].vz = -pz / b[0].m;
}

static double energy(const body *b) {
  double e = 0;
  for (int i = 0; i < NB; i++) {
    e += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
    for (int j = i + 1; j < NB; j++) {
      double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
      e -= b[i].m * b[j].m / sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

static void step(body *b, double dt) {
  for (int i = 0; i < NB; i++) {
    for (int j = i + 1; j < NB; j++) {
      double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
      double d2 = dx * dx + dy * dy + dz * dz;
      double k = dt / (d2 * sqrt(d2));
      double ki = k * b[j].m, kj = k * b[i].m;
      b[i].vx -= dx * ki; b[i].vy -= dy * ki; b[i].vz -= dz * ki;
      b[j].vx += dx * kj; b[j].vy += dy * kj; b[j].vz += dz * kj;
    }
  }
  for (int i = 0; i < NB; i++) {
    b[i].x += dt * b[i].vx;
    b[i].y += dt * b[i].vy;
    b[i].z += dt * b[i].vz;
  }
}

int main(int argc, char **argv) {
  long steps = bench_size(argc, argv, 2500000);
  body b[NB];
  init(b);
  printf("energy before %.12f\n", energy(b));
  for (long s = 0; s < steps; s++) step(b, 0.0005);
  printf("energy after  %.12f\n", energy(b));
  printf("body 1 at %.9f %.9f %.9f\n", b[1].x, b[1].y, b[1].z);
  return 0;
}
