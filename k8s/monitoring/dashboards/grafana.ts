import type { DashboardDef, PanelDef, VariableDef } from './definitions';

/** Panels and variables query the data source picked in the $datasource variable. */
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const PANEL_HEIGHT = 8;

function variable(v: VariableDef): Record<string, unknown> {
  const query = `label_values(${v.metric}, ${v.labelName})`;
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    sort: 1,
    hide: 0,
    multi: v.all,
    includeAll: v.all,
    ...(v.all ? { allValue: '.*', current: { text: 'All', value: '$__all' } } : {}),
  };
}

function panelOptions(panel: PanelDef): Record<string, unknown> {
  switch (panel.type) {
    case 'timeseries':
      return {
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
        tooltip: { mode: 'multi', sort: 'desc' },
      };
    case 'stat':
      return {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'area',
      };
    case 'bargauge':
      return {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        displayMode: 'gradient',
        orientation: 'horizontal',
      };
    case 'table':
      return { showHeader: true, sortBy: [{ displayName: 'Value', desc: true }] };
  }
}

/** Grafana's dashboard JSON model (schemaVersion 39) for `def`. */
export function toGrafana(def: DashboardDef): Record<string, unknown> {
  const panels: Array<Record<string, unknown>> = [];
  let id = 1;
  let y = 0;
  for (const row of def.rows) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    for (const panel of row.panels) {
      if (x + panel.width > 24) {
        x = 0;
        y += PANEL_HEIGHT;
      }
      panels.push({
        id: id++,
        type: panel.type,
        title: panel.title,
        description: panel.description,
        datasource: DATASOURCE,
        gridPos: { h: PANEL_HEIGHT, w: panel.width, x, y },
        fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
        options: panelOptions(panel),
        targets: panel.targets.map((target, i) => ({
          refId: String.fromCharCode(65 + i),
          datasource: DATASOURCE,
          expr: target.expr,
          legendFormat: target.legend ?? '__auto',
          range: target.instant !== true,
          instant: target.instant === true,
          ...(target.instant === true ? { format: 'table' } : {}),
        })),
      });
      x += panel.width;
    }
    y += PANEL_HEIGHT;
  }
  return {
    uid: def.uid,
    title: def.title,
    description: def.description,
    tags: ['mesha'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          refresh: 1,
          hide: 0,
          current: {},
        },
        ...def.variables.map(variable),
      ],
    },
    panels,
  };
}
