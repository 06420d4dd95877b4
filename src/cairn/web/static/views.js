// Cairn workbench views (our own code; the libraries are vendored from npm): Alpine
// components, registered here because Alpine's CSP build evaluates no expression strings.
// Loaded before Alpine so the registration precedes its start.
document.addEventListener("alpine:init", () => {
  "use strict";
  // The link graph: cytoscape draws graph.json; a click on a node names it and links to it.
  // Shapes differ per kind (never colour alone); no node carries a picture.
  const SHAPES = { suspect: "diamond", device: "round-rectangle", source: "rectangle",
    family: "hexagon", fingerprint: "triangle", item: "ellipse" };
  window.Alpine.data("graph", () => ({
    selected: "nothing yet (click a node)",
    href: "",
    cy: null,
    init() {
      const box = document.getElementById("cy");
      if (!box) return;  // cytoscape missing: the page says so and lists the nodes
      if (typeof window.cytoscape !== "function") {
        box.textContent = "The graph cannot be drawn: cytoscape did not load.";
        return;
      }
      fetch(this.$el.dataset.src, { credentials: "same-origin" })
        .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then((g) => this.draw(box, g))
        .catch((e) => { box.textContent = "The graph could not be loaded (" + e.message + ")."; });
    },
    draw(box, g) {
      const style = [
        { selector: "node", style: { label: "data(label)", "font-size": 9, "text-wrap": "ellipsis",
          "text-max-width": 120, "background-color": "#bbb", "border-width": 2,
          "border-color": "#111", color: "#111", width: 18, height: 18 } },
        { selector: "node[kind = 'item']", style: { label: "", width: 10, height: 10 } },
        { selector: "node[tags *= 'matched']", style: { "border-width": 4, "border-style": "double" } },
        { selector: "node:selected", style: { "border-width": 5, "border-color": "#000", label: "data(label)" } },
        { selector: "edge", style: { width: 1, "line-color": "#777", "curve-style": "haystack" } },
        { selector: "edge[type = 'member']", style: { "line-style": "solid" } },
        { selector: "edge[type = 'found_on']", style: { "line-style": "dotted" } },
      ];
      Object.entries(SHAPES).forEach(([kind, shape]) =>
        style.push({ selector: "node[kind = '" + kind + "']", style: { shape: shape } }));
      const cy = window.cytoscape({ container: box, elements: g.elements, style: style,
        layout: { name: "cose", animate: false, randomize: false, nodeDimensionsIncludeLabels: false },
        wheelSensitivity: 0.3 });
      cy.on("tap", "node", (ev) => {
        const d = ev.target.data();
        this.selected = d.label + (d.tags ? " (" + d.tags + ")" : "");
        this.href = d.href || "";
      });
      this.cy = cy;
      box.dataset.ready = String(cy.nodes().length);  // what the page (and a test) can read
      box.dataset.visible = box.dataset.ready;
    },
    toggle(ev) {
      if (!this.cy) return;
      const kind = ev.target.dataset.kind;
      this.cy.nodes("[kind = '" + kind + "']").style("display", ev.target.checked ? "element" : "none");
      this.cy.container().dataset.visible = String(this.cy.nodes(":visible").length);
    },
  }));
});
