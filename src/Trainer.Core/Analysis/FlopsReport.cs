using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Trainer.Core.Analysis;

/// <summary>The result of <see cref="FlopsCounter.Count"/>: one row per counted layer call, in execution order, and totals.</summary>
public sealed class FlopsReport
{
    /// <summary>Creates a report from its rows.</summary>
    /// <param name="layers">Counted layer calls in execution order.</param>
    /// <param name="mode">The mode the rows were counted in.</param>
    public FlopsReport(IReadOnlyList<LayerCount> layers, CountMode mode)
    {
        ArgumentNullException.ThrowIfNull(layers);
        Layers = layers;
        Mode = mode;
        TotalFlops = layers.Sum(l => l.Flops);
        // As NNI: a module called several times counts its FLOPs per call and its parameters once (the last row's value).
        var byName = new Dictionary<string, long>();
        foreach (var l in layers) byName[l.Name] = l.Params;
        TotalParams = byName.Values.Sum();
    }

    /// <summary>Counted layer calls, in execution order.</summary>
    public IReadOnlyList<LayerCount> Layers { get; }

    /// <summary>The mode the rows were counted in.</summary>
    public CountMode Mode { get; }

    /// <summary>Sum of the rows' FLOPs (per sample).</summary>
    public long TotalFlops { get; }

    /// <summary>Sum of the counted layers' parameters, each layer once.</summary>
    public long TotalParams { get; }

    /// <summary>The first row of the layer named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No counted layer has that name.</exception>
    public LayerCount Layer(string name) =>
        Layers.FirstOrDefault(l => l.Name == name) ?? throw new KeyNotFoundException($"No counted layer named '{name}'.");

    /// <summary>A count with thousands separators, e.g. <c>1,814,073,344</c> (invariant culture).</summary>
    public static string Format(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A shape as dimensions joined by 'x', e.g. <c>1x64x56x56</c>.</summary>
    public static string FormatShape(IEnumerable<long> shape) => string.Join("x", shape);

    /// <summary>
    /// CSV with the header <c>name,type,input_shape,output_shape,flops,params</c> and one line per row, shapes as
    /// <c>1x64x56x56</c>, plain integers, lines ending in '\n'. Fields are quoted only when they need it.
    /// </summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("name,type,input_shape,output_shape,flops,params\n");
        foreach (var l in Layers)
            sb.Append(CsvField(l.Name)).Append(',').Append(CsvField(l.Type)).Append(',')
              .Append(FormatShape(l.InputShape)).Append(',').Append(FormatShape(l.OutputShape)).Append(',')
              .Append(l.Flops.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(l.Params.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Indented JSON: <c>{"mode", "total_flops", "total_params", "rows": [{"name", "type", "input_shape", "output_shape",
    /// "flops", "params"}]}</c>, shapes as integer arrays.
    /// </summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("mode", Mode == CountMode.Full ? "full" : "default");
            w.WriteNumber("total_flops", TotalFlops);
            w.WriteNumber("total_params", TotalParams);
            w.WriteStartArray("rows");
            foreach (var l in Layers)
            {
                w.WriteStartObject();
                w.WriteString("name", l.Name);
                w.WriteString("type", l.Type);
                WriteShape(w, "input_shape", l.InputShape);
                WriteShape(w, "output_shape", l.OutputShape);
                w.WriteNumber("flops", l.Flops);
                w.WriteNumber("params", l.Params);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A Spectre.Console table of the rows (#, name, type, input, output, FLOPs, params) with a totals row.</summary>
    public Table ToTable()
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("#").AddColumn("Name").AddColumn("Type").AddColumn("Input").AddColumn("Output")
            .AddColumn(new TableColumn("FLOPs").RightAligned()).AddColumn(new TableColumn("Params").RightAligned());
        for (int i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            table.AddRow(i.ToString(CultureInfo.InvariantCulture), Markup.Escape(l.Name), Markup.Escape(l.Type),
                FormatShape(l.InputShape), FormatShape(l.OutputShape), Format(l.Flops), Format(l.Params));
        }
        table.AddRow("", "[bold]total[/]", "", "", "", $"[bold]{Format(TotalFlops)}[/]", $"[bold]{Format(TotalParams)}[/]");
        return table;
    }

    private static void WriteShape(Utf8JsonWriter w, string name, long[] shape)
    {
        w.WriteStartArray(name);
        foreach (var d in shape) w.WriteNumberValue(d);
        w.WriteEndArray();
    }

    private static string CsvField(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";
}
