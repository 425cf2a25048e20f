// The try-it page: sends the photo to /api/recommend and shows each section the served
// model supports (the server reads the model metadata; /api/config says which).
"use strict";

const $ = (selector) => document.querySelector(selector);
let config = {sections: {}, users: [], demo_photos: []};

function show(element, visible) { element.hidden = !visible; }

function setBusy(busy, text) {
  $("#progress").lastChild.textContent = text || "Asking the model…";
  show($("#progress"), busy);
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  $("#upload").disabled = busy;
  document.querySelectorAll("#demo-photos button, #for-you-button").forEach((b) => { b.disabled = busy; });
}

function showError(message) {
  $("#error").textContent = message;
  show($("#error"), Boolean(message));
}

function itemFigure(item) {
  const figure = document.createElement("figure");
  figure.className = "item";
  figure.dataset.itemId = item.item_id;
  if (item.image_url) {
    const img = document.createElement("img");
    img.src = item.image_url;
    img.alt = item.title || item.item_id;
    figure.appendChild(img);
  }
  const caption = document.createElement("figcaption");
  const id = document.createElement("span");
  id.className = "item-id";
  id.textContent = item.item_id;
  caption.appendChild(id);
  if (item.score !== undefined) {
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = item.score.toFixed(3);
    caption.appendChild(score);
  }
  if (item.category) {
    const category = document.createElement("span");
    category.className = "category";
    category.textContent = item.category;
    caption.appendChild(category);
  }
  figure.appendChild(caption);
  return figure;
}

function fill(container, items) {
  container.replaceChildren(...items.map(itemFigure));
}

function clearResults() {
  ["#labels", "#similar", "#complete-the-look"].forEach((id) => show($(id), false));
}

function render(result) {
  if (result.labels) {
    const list = $("#labels ul");
    list.replaceChildren(...result.labels.map(({label, probability}) => {
      const li = document.createElement("li");
      li.textContent = `${label} `;
      const p = document.createElement("span");
      p.className = "probability";
      p.textContent = `${Math.round(probability * 100)}%`;
      li.appendChild(p);
      return li;
    }));
    show($("#labels"), true);
  }
  if (result.similar) {
    fill($("#similar .grid"), result.similar);
    show($("#similar"), true);
  }
  if (result.complete_the_look) {
    $("#complete-the-look .rows").replaceChildren(...result.complete_the_look.map((row) => {
      const div = document.createElement("div");
      div.className = "row";
      const h3 = document.createElement("h3");
      h3.textContent = row.category;
      const grid = document.createElement("div");
      grid.className = "grid";
      fill(grid, row.items);
      div.append(h3, grid);
      return div;
    }));
    show($("#complete-the-look"), true);
  }
}

async function answer(response) {
  let body = {};
  try { body = await response.json(); } catch (e) { body = {}; }
  if (!response.ok) throw new Error(body.error || `The page's server answered ${response.status}.`);
  return body;
}

async function recommend(blob, name) {
  showError("");
  clearResults();
  const preview = $("#preview");
  preview.querySelector("img").src = URL.createObjectURL(blob);
  preview.querySelector("figcaption").textContent = name;
  show(preview, true);
  setBusy(true);
  try {
    const response = await fetch("/api/recommend", {
      method: "POST", body: blob,
      headers: {"Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(name)},
    });
    render(await answer(response));
  } catch (error) {
    showError(error.message);
    show(preview, false);
  } finally {
    setBusy(false);
  }
}

async function forYou() {
  showError("");
  setBusy(true, "Asking the model for this shopper…");
  try {
    const user = $("#user").value;
    const response = await fetch(`/api/for_you/${encodeURIComponent(user)}`, {method: "POST"});
    const result = await answer(response);
    fill($("#for-you .cart"), result.cart);
    fill($("#for-you .items"), result.items);
    show($("#for-you-results"), true);
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

async function start() {
  try {
    config = await answer(await fetch("/api/config"));
  } catch (error) {
    showError(error.message);
    return;
  }
  $("#demo-photos").replaceChildren(...config.demo_photos.map((url, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "demo-photo";
    button.title = `Street photo ${index + 1}`;
    const img = document.createElement("img");
    img.src = url;
    img.alt = `street photo ${index + 1}`;
    button.appendChild(img);
    button.addEventListener("click", async () => {
      const blob = await (await fetch(url)).blob();
      recommend(blob, `street photo ${index + 1}`);
    });
    return button;
  }));
  if (config.sections.for_you && config.users.length) {
    $("#user").replaceChildren(...config.users.map(({user_id, cart}) => {
      const option = document.createElement("option");
      option.value = user_id;
      option.textContent = `${user_id} (${cart.length} items in the cart)`;
      return option;
    }));
    show($("#for-you"), true);
  }
  const missing = Object.entries(config.sections).filter(([, on]) => !on).map(([name]) => name.replaceAll("_", " "));
  $("#sections-note").textContent = missing.length
    ? `Not served by ${config.models.join(", ")}: ${missing.join(", ")}.` : "";
}

$("#upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) recommend(file, file.name);
  event.target.value = "";
});
$("#for-you-button").addEventListener("click", forYou);
start();
