//! A Zipf sampler by rejection-inversion (W. Hörmann and G. Derflinger,
//! "Rejection-inversion to generate variates from monotone discrete
//! distributions", ACM TOMACS 6(3), 1996).
//!
//! Rank `k` in `1..=n` is drawn with probability proportional to `1 / k^s`.
//! Set-up is O(1) and each draw takes O(1) expected time (a handful of `exp`
//! and `ln` calls, with rejection rare), so it works for key spaces of
//! billions without the O(n) table an inverse-CDF sampler needs. Any
//! exponent `s > 0` works, including `s == 1` and the customary 0.99.

use crate::rng::Rng;

/// Draws ranks `1..=n` with Zipf(s) probabilities.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    /// The squeeze constant of the rejection step.
    squeeze: f64,
}

/// Why a [`Zipf`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZipfError {
    /// `n` was 0: there is nothing to draw.
    Empty,
    /// The exponent was not a finite number above 0.
    BadExponent(f64),
}

impl std::fmt::Display for ZipfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipfError::Empty => write!(f, "Zipf needs at least one element"),
            ZipfError::BadExponent(s) => write!(f, "Zipf exponent must be > 0, got {s}"),
        }
    }
}

impl std::error::Error for ZipfError {}

impl Zipf {
    /// A sampler over `1..=n` with exponent `s`.
    ///
    /// # Errors
    /// [`ZipfError::Empty`] when `n == 0`, [`ZipfError::BadExponent`] when
    /// `s` is not finite and positive.
    pub fn new(n: u64, s: f64) -> Result<Self, ZipfError> {
        if n == 0 {
            return Err(ZipfError::Empty);
        }
        if !(s.is_finite() && s > 0.0) {
            return Err(ZipfError::BadExponent(s));
        }
        let mut z = Zipf {
            n: n as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            squeeze: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.squeeze = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        Ok(z)
    }

    /// Draws one rank in `1..=n`; rank 1 is the most frequent.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// `h(x) = x^-s`.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// An antiderivative of `h`, written so that it stays exact near `s == 1`.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    /// The inverse of [`Zipf::h_integral`].
    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(n: u64, s: f64, draws: usize, seed: u64) -> Vec<u64> {
        let z = Zipf::new(n, s).unwrap();
        let mut rng = Rng::new(seed);
        let mut counts = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            let k = z.sample(&mut rng);
            assert!((1..=n).contains(&k), "rank {k} out of 1..={n}");
            counts[k as usize] += 1;
        }
        counts
    }

    /// The empirical frequency of each of the first ranks is close to the
    /// exact probability `k^-s / H(n, s)`.
    #[test]
    fn shape_matches_the_exact_distribution() {
        for &s in &[0.5, 0.99, 1.0, 1.2] {
            let n = 1000u64;
            let draws = 400_000;
            let counts = histogram(n, s, draws, 9);
            let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
            for k in [1u64, 2, 3, 10, 100] {
                let expected = (k as f64).powf(-s) / norm * draws as f64;
                let got = counts[k as usize] as f64;
                // Five standard deviations of a binomial count, plus a little.
                let tolerance = 5.0 * expected.sqrt() + 0.01 * expected;
                assert!(
                    (got - expected).abs() <= tolerance,
                    "s={s} rank {k}: got {got}, expected {expected:.0} ± {tolerance:.0}"
                );
            }
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let z = Zipf::new(1_000_000, 0.99).unwrap();
        let mut a = Rng::new(5);
        let mut b = Rng::new(5);
        let xs: Vec<u64> = (0..1000).map(|_| z.sample(&mut a)).collect();
        let ys: Vec<u64> = (0..1000).map(|_| z.sample(&mut b)).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn single_element_and_bad_input() {
        let z = Zipf::new(1, 0.99).unwrap();
        let mut rng = Rng::new(0);
        assert!((0..100).all(|_| z.sample(&mut rng) == 1));
        assert_eq!(Zipf::new(0, 1.0).unwrap_err(), ZipfError::Empty);
        assert!(matches!(Zipf::new(5, 0.0), Err(ZipfError::BadExponent(_))));
        assert!(matches!(
            Zipf::new(5, f64::NAN),
            Err(ZipfError::BadExponent(_))
        ));
    }

    #[test]
    fn huge_key_space_is_fine() {
        let counts_top = {
            let z = Zipf::new(10_000_000_000, 0.99).unwrap();
            let mut rng = Rng::new(3);
            (0..10_000).filter(|_| z.sample(&mut rng) == 1).count()
        };
        // Rank 1 of Zipf(0.99) over 1e10 keys has probability about 4%.
        assert!((200..700).contains(&counts_top), "{counts_top}");
    }
}
