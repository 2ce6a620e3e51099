//! `/watch`: a page that keeps playing without making any request, like a
//! video stream — an animated canvas and a running timecode. It stops the
//! instant its session ends, because the watcher navigates away and the
//! animation loop dies with the page.

use leptos::{html::Canvas, prelude::*};
use leptos_meta::Title;

/// `HH:MM:SS:FF` at 25 frames a second.
pub fn timecode(elapsed_ms: f64) -> String {
    let frames = (elapsed_ms.max(0.0) / 40.0) as u64;
    let (seconds, frame) = (frames / 25, frames % 25);
    format!(
        "{:02}:{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60,
        frame
    )
}

#[component]
pub fn WatchPage() -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let clock = RwSignal::new(timecode(0.0));
    let playing = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    player::play(canvas, clock, playing);

    view! {
        <Title text="Watch" />
        <section class="card player" data-playing=move || playing.get().to_string()>
            <p class="eyebrow">"Now playing"</p>
            <h1>"Bouncer Live"</h1>
            <canvas node_ref=canvas class="screen" width="640" height="360" aria-label="A stream that keeps playing"></canvas>
            <p class="timecode" data-testid="timecode" aria-live="off">{move || clock.get()}</p>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod player {
    //! The animation loop: `requestAnimationFrame`, no network.

    use std::{cell::RefCell, rc::Rc};

    use leptos::{html::Canvas, prelude::*};
    use wasm_bindgen::{prelude::*, JsCast};

    type Frame = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

    pub fn play(canvas: NodeRef<Canvas>, clock: RwSignal<String>, playing: RwSignal<bool>) {
        let frame: Frame = Rc::new(RefCell::new(None));
        let handle = Rc::new(RefCell::new(None::<i32>));
        let started = Rc::new(RefCell::new(None::<f64>));
        let next = Rc::clone(&frame);
        let next_handle = Rc::clone(&handle);
        *frame.borrow_mut() = Some(Closure::new(move |now: f64| {
            let start = *started.borrow_mut().get_or_insert(now);
            let elapsed = now - start;
            clock.set(super::timecode(elapsed));
            if let Some(canvas) = canvas.get_untracked() {
                draw(&canvas, elapsed);
            }
            if let Some(callback) = next.borrow().as_ref() {
                *next_handle.borrow_mut() = window()
                    .request_animation_frame(callback.as_ref().unchecked_ref())
                    .ok();
            }
        }));
        if let Some(callback) = frame.borrow().as_ref() {
            *handle.borrow_mut() = window()
                .request_animation_frame(callback.as_ref().unchecked_ref())
                .ok();
            playing.set(true);
        }
        // Leaving the page stops the loop at once and frees the closure.
        let frame = send_wrapper::SendWrapper::new((frame, handle));
        on_cleanup(move || {
            let (frame, handle) = frame.take();
            if let Some(id) = handle.borrow_mut().take() {
                let _ = window().cancel_animation_frame(id);
            }
            frame.borrow_mut().take();
        });
    }

    fn draw(canvas: &web_sys::HtmlCanvasElement, elapsed: f64) {
        let Some(context) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        let (width, height) = (f64::from(canvas.width()), f64::from(canvas.height()));
        let t = elapsed / 1000.0;
        context.set_fill_style_str("#0b0d12");
        context.fill_rect(0.0, 0.0, width, height);
        for band in 0..12 {
            let phase = t * 1.3 + f64::from(band) * 0.55;
            // `Math.sin` and an integer hue: no libm and no float formatting in the bundle.
            let x = (js_sys::Math::sin(phase) * 0.5 + 0.5) * (width - 60.0);
            let hue = ((t * 40.0 + f64::from(band) * 30.0) % 360.0).round() as u32;
            context.set_fill_style_str(&format!("hsl({hue}, 70%, 60%)"));
            context.fill_rect(
                x,
                f64::from(band) * height / 12.0,
                60.0,
                height / 12.0 - 4.0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::timecode;

    #[test]
    fn timecode_counts_frames_seconds_minutes_hours() {
        assert_eq!(timecode(0.0), "00:00:00:00");
        assert_eq!(timecode(1_040.0), "00:00:01:01");
        assert_eq!(timecode(3_661_000.0), "01:01:01:00");
    }
}
