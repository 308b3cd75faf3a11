// recsys page: pick songs (suggestions from GET api/search), ask (POST api/recommend,
// with `explain`: each song says which picked songs led to it), and follow the served
// model (GET api/model, polled) without reloading the page.
// Plain JavaScript, no build step and no third-party code: the page must work in a
// cluster without internet access. URLs are relative, so the page also works behind a
// path prefix.
"use strict";

(() => {
  const POLL_MS = 2000; // how soon a swapped model shows: a couple of seconds at most
  const HIDDEN_POLL_MS = 30000;
  const SUGGEST_DELAY_MS = 120; // typing pauses this long before a search is sent
  const SUGGESTIONS = 8;
  const MAX_SONGS = 1000;

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("ask"),
    input: $("song-input"),
    add: $("add-song"),
    list: $("suggestions"),
    suggestStatus: $("suggest-status"),
    chosen: $("chosen"),
    chosenEmpty: $("chosen-empty"),
    k: $("k-input"),
    askButton: $("ask-button"),
    error: $("ask-error"),
    answer: $("answer"),
    answerMeta: $("answer-meta"),
    results: $("results"),
    unknown: $("unknown"),
    withoutRules: $("without-rules"),
    modelInfo: $("model-info"),
    modelStatus: $("model-status"),
  };
  const state = {
    songs: [], // what the user picked, in order
    unknown: new Set(), // picked songs the model said it does not know
    options: [], // the suggestions shown
    active: -1, // the highlighted suggestion
    search: null, // AbortController of the search in flight
    timer: 0,
    poll: 0,
    polling: false,
    trouble: false, // the last poll failed: its message is on show
    modelId: null,
    answerModelId: null,
  };

  async function getJson(url, options) {
    const response = await fetch(url, options);
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const error = new Error(body && body.detail ? body.detail : `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // --- the model being served -------------------------------------------------------

  function readableDate(iso) {
    return String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$|Z$/, " UTC");
  }

  function showModel(info) {
    $("model-id").textContent = info.model_id;
    $("model-date").textContent = readableDate(info.model_date);
    $("model-rules").textContent = Number(info.rules).toLocaleString("en");
    $("model-songs").textContent = Number(info.songs).toLocaleString("en");
  }

  function noticeChange(previous, current) {
    el.modelStatus.textContent = `The model changed: now serving ${current} (was ${previous}).`;
    el.modelInfo.classList.add("changed");
    setTimeout(() => el.modelInfo.classList.remove("changed"), 4000);
    if (state.answerModelId && state.answerModelId !== current) {
      el.answerMeta.textContent += ` The server now serves ${current}: ask again for its answer.`;
    }
  }

  async function pollModel() {
    if (state.polling) return; // one poll at a time: its end schedules the next
    state.polling = true;
    try {
      const info = await getJson("api/model", { cache: "no-store" });
      const previous = state.modelId;
      if (info.model_id !== previous) {
        state.modelId = info.model_id;
        showModel(info);
      }
      if (previous && info.model_id !== previous) {
        noticeChange(previous, info.model_id);
      } else if (state.trouble) {
        el.modelStatus.textContent = ""; // the service answers again
      }
      state.trouble = false;
    } catch (error) {
      state.trouble = true;
      if (!state.modelId) $("model-id").textContent = "none yet";
      el.modelStatus.textContent =
        error.status === 503
          ? "No model is loaded yet; this page will show it as soon as one is."
          : `Cannot reach the service (${error.message}); trying again.`;
    } finally {
      // A hidden tab polls less often; it catches up as soon as it is shown again.
      state.polling = false;
      clearTimeout(state.poll);
      state.poll = setTimeout(pollModel, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      clearTimeout(state.poll);
      pollModel();
    }
  });

  // --- suggestions (an ARIA combobox) -----------------------------------------------

  function closeList() {
    el.list.hidden = true;
    el.list.replaceChildren();
    el.input.setAttribute("aria-expanded", "false");
    el.input.removeAttribute("aria-activedescendant");
    state.options = [];
    state.active = -1;
  }

  function renderOptions(songs, matches, text) {
    closeList();
    if (!songs.length) {
      el.suggestStatus.textContent = `No song of the model starts with “${text}”.`;
      return;
    }
    songs.forEach((song, n) => {
      const option = document.createElement("li");
      option.id = `suggestion-${n}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.textContent = song;
      option.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
      option.addEventListener("click", () => addSong(song));
      el.list.append(option);
    });
    state.options = songs;
    el.list.hidden = false;
    el.input.setAttribute("aria-expanded", "true");
    const more = matches > songs.length ? ` of ${matches.toLocaleString("en")}` : "";
    el.suggestStatus.textContent = `${songs.length}${more} suggestions; arrow keys to choose.`;
  }

  function highlight(n) {
    const options = el.list.children;
    if (!options.length) return;
    state.active = (n + options.length) % options.length;
    Array.from(options).forEach((option, i) =>
      option.setAttribute("aria-selected", String(i === state.active)),
    );
    const active = options[state.active];
    el.input.setAttribute("aria-activedescendant", active.id);
    active.scrollIntoView({ block: "nearest" });
  }

  async function suggest() {
    const text = el.input.value;
    if (state.search) state.search.abort();
    if (!text.trim()) {
      closeList();
      return;
    }
    const search = new AbortController();
    state.search = search;
    const query = `api/search?q=${encodeURIComponent(text)}&limit=${SUGGESTIONS + state.songs.length}`;
    try {
      const body = await getJson(query, { signal: search.signal });
      if (el.input.value !== text) return; // the user typed on: a newer search follows
      const fresh = body.songs.filter((song) => !state.songs.includes(song));
      renderOptions(fresh.slice(0, SUGGESTIONS), body.matches, text.trim());
    } catch (error) {
      if (error.name === "AbortError") return;
      closeList();
      el.suggestStatus.textContent = `No suggestions: ${error.message}`;
    }
  }

  function scheduleSuggest() {
    clearTimeout(state.timer);
    state.timer = setTimeout(suggest, SUGGEST_DELAY_MS);
  }

  function onKey(event) {
    const open = !el.list.hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) {
        suggest();
      } else {
        highlight(state.active + (event.key === "ArrowDown" ? 1 : -1));
      }
    } else if (event.key === "Enter") {
      if (open && state.active >= 0) {
        event.preventDefault();
        addSong(state.options[state.active]);
      } else if (el.input.value.trim()) {
        event.preventDefault();
        addSong(el.input.value.trim());
      } // an empty input: Enter submits the form, that is, asks
    } else if (event.key === "Escape") {
      if (open) {
        closeList();
      } else {
        el.input.value = "";
      }
    }
  }

  // --- the songs picked -----------------------------------------------------------

  function addSong(song) {
    const known = state.songs.some((picked) => picked.toLowerCase() === song.toLowerCase());
    if (!known && state.songs.length < MAX_SONGS) {
      state.songs.push(song);
      renderChosen();
    }
    el.input.value = "";
    closeList();
    el.suggestStatus.textContent = known
      ? `${song} is already in your songs.`
      : `Added ${song}; ${state.songs.length} songs.`;
    el.input.focus();
  }

  function removeSong(song) {
    state.songs = state.songs.filter((picked) => picked !== song);
    renderChosen();
    el.suggestStatus.textContent = `Removed ${song}; ${state.songs.length} songs.`;
    el.input.focus();
  }

  function renderChosen() {
    el.chosen.replaceChildren(
      ...state.songs.map((song) => {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = state.unknown.has(song) ? `${song} (not in the model)` : song;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.setAttribute("aria-label", `Remove ${song}`);
        remove.addEventListener("click", () => removeSong(song));
        item.append(name, remove);
        return item;
      }),
    );
    el.chosenEmpty.hidden = state.songs.length > 0;
  }

  // --- asking ---------------------------------------------------------------------

  // "“A”", "“A” with “B”", "“A”, “B” with “C”": the sent songs of one rule, together.
  function reasonPart(liked) {
    const part = document.createElement("span");
    part.className = "reason";
    liked.forEach((song, n) => {
      if (n > 0) part.append(n === liked.length - 1 ? " with " : ", ");
      const name = document.createElement("span");
      name.className = "liked";
      name.textContent = song; // the user's own spelling: text, never markup
      part.append("“", name, "”");
    });
    return part;
  }

  // "Because you liked “A” and “B”": the strongest one or two rules behind a song.
  function reasonLine(reasons, id) {
    const line = document.createElement("span");
    line.className = "because";
    line.id = id;
    line.append("Because you liked ");
    reasons.slice(0, 2).forEach((reason, n) => {
      if (n > 0) line.append(" and ");
      line.append(reasonPart(reason.liked));
    });
    return line;
  }

  function resultItem(song, fromRules, reasons, n) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "song";
    name.textContent = song;
    const badge = document.createElement("span");
    badge.className = fromRules ? "badge rule" : "badge popular";
    badge.textContent = fromRules ? "rule" : "popular";
    const add = document.createElement("button");
    add.type = "button";
    add.className = "link";
    add.textContent = "Add";
    add.setAttribute("aria-label", `Add ${song} to your songs`);
    add.addEventListener("click", () => addSong(song));
    item.append(name, badge, add);
    if (fromRules && reasons && reasons.length) {
      // Part of the item, so it is read with the song; Add is described by it as well.
      const line = reasonLine(reasons, `because-${n}`);
      add.setAttribute("aria-describedby", line.id);
      item.append(line);
    }
    return item;
  }

  function renderAnswer(answer) {
    const fromRules = answer.songs.length - answer.filled;
    const because = answer.because || []; // for each song, its rules, strongest first
    el.results.replaceChildren(
      ...answer.songs.map((song, n) => resultItem(song, n < fromRules, because[n], n)),
    );
    state.answerModelId = answer.model_id;
    const filled = answer.filled ? `, ${answer.filled} from the popularity fill` : "";
    el.answerMeta.textContent =
      `${answer.songs.length} songs from model ${answer.model_id}: ${fromRules} from rules${filled}.`;
    state.unknown = new Set(answer.unknown_songs);
    el.unknown.hidden = !answer.unknown_songs.length;
    el.unknown.textContent = `The model does not know: ${answer.unknown_songs.join(", ")}. They were left out.`;
    const rare = answer.songs_without_rules || [];
    el.withoutRules.hidden = !rare.length;
    el.withoutRules.textContent =
      `The model knows ${rare.join(", ")}, but too few playlists share them with other songs to recommend from.`;
    renderChosen();
    el.answer.hidden = false;
  }

  async function ask(event) {
    event.preventDefault();
    if (el.input.value.trim()) addSong(el.input.value.trim());
    const k = Number(el.k.value);
    el.error.textContent = "";
    if (!state.songs.length) {
      el.error.textContent = "Add at least one song first.";
      el.input.focus();
      return;
    }
    if (!Number.isInteger(k) || k < 1 || k > 100) {
      el.error.textContent = "How many songs: a whole number from 1 to 100.";
      el.k.focus();
      return;
    }
    el.askButton.disabled = true;
    try {
      const answer = await getJson("api/recommend", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ songs: state.songs, k, explain: true }),
      });
      renderAnswer(answer);
    } catch (error) {
      el.error.textContent = `No answer: ${error.message}`;
    } finally {
      el.askButton.disabled = false;
    }
  }

  el.input.addEventListener("input", scheduleSuggest);
  el.input.addEventListener("keydown", onKey);
  el.input.addEventListener("blur", closeList);
  el.add.addEventListener("click", () => {
    if (el.input.value.trim()) addSong(el.input.value.trim());
  });
  el.form.addEventListener("submit", ask);
  renderChosen();
  pollModel();
})();
