// The participant page of a ferkit survey: one image at a time, the answer and the
// time it took posted at once; the participant id is kept in localStorage so that
// a participant can stop and resume. Loaded as a file: the server's CSP forbids
// inline scripts.
"use strict";

(function () {
  const KEY = "ferkit-survey:" + location.pathname;
  const $ = (id) => document.getElementById(id);
  let survey = null;
  let current = null;
  let shownAt = 0;

  function fail(message) {
    const el = $("error");
    el.textContent = message;
    el.hidden = false;
  }

  async function call(method, url, body) {
    const options = { method: method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function show(state) {
    localStorage.setItem(KEY, state.participant);
    $("intro").hidden = true;
    $("error").hidden = true;
    if (!state.next) {
      $("question").hidden = true;
      $("done").hidden = false;
      return;
    }
    current = state.next;
    $("question").hidden = false;
    $("progress").textContent = (state.answered + 1) + " / " + state.total;
    const img = $("face");
    for (const b of $("choices").querySelectorAll("button")) b.disabled = true;
    img.onload = () => {
      shownAt = performance.now();
      for (const b of $("choices").querySelectorAll("button")) b.disabled = false;
    };
    img.src = current.image;
  }

  async function answer(value) {
    if (!current) return;
    const participant = localStorage.getItem(KEY);
    const ms = Math.round(performance.now() - shownAt);
    for (const b of $("choices").querySelectorAll("button")) b.disabled = true;
    try {
      show(await call("POST", "api/participants/" + encodeURIComponent(participant) + "/answers",
                      { item: current.item, answer: value, ms: ms }));
    } catch (e) {
      if (e.status === 409) {
        show(await call("GET", "api/participants/" + encodeURIComponent(participant)));
      } else {
        fail("Could not save the answer: " + e.message);
        for (const b of $("choices").querySelectorAll("button")) b.disabled = false;
      }
    }
  }

  async function start() {
    try {
      show(await call("POST", "api/participants"));
    } catch (e) {
      fail("Could not start: " + e.message);
    }
  }

  async function init() {
    try {
      survey = await call("GET", "api/survey");
    } catch (e) {
      fail("The survey is not available: " + e.message);
      return;
    }
    document.documentElement.lang = survey.language || "en";
    if (survey.texts) {
      $("intro-text").textContent = survey.texts.intro;
      $("start").textContent = survey.texts.start;
      $("done-text").textContent = survey.texts.done;
    }
    if (survey.title) {
      $("title").textContent = survey.title;
      document.title = survey.title;
    }
    const box = $("choices");
    for (const choice of survey.choices) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = choice.name;
      button.addEventListener("click", () => answer(choice.value));
      box.appendChild(button);
    }
    $("start").addEventListener("click", start);
    const participant = localStorage.getItem(KEY);
    if (participant) {
      try {
        show(await call("GET", "api/participants/" + encodeURIComponent(participant)));
      } catch (e) {
        localStorage.removeItem(KEY);
      }
    }
  }

  init();
})();
