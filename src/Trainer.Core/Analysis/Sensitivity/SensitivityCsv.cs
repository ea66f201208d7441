using System.Collections.ObjectModel;
using System.Text;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Reads and writes sensitivity results in NNI's CSV format (<c>SensitivityAnalysis.export</c>), e.g.
/// <code>
/// layername,0.1,0.2,0.3
/// conv1,0.91,0.88,0.5
/// conv2,0.9,0.6
/// </code>
/// The header is "layername" and the sparsities; each row is a layer name and its metrics in sparsity
/// order, and a row whose sweep stopped early just ends early. Numbers are written as Python's
/// <c>repr(float)</c> writes them (0.91, 1.0, 1e-05, nan), fields are quoted only when they contain a comma,
/// a quote or a line break, and lines end with "\r\n" (the default of Python's csv.writer, which NNI uses).
/// The format has no baseline.
/// </summary>
public static class SensitivityCsv
{
    private const string FirstColumn = "layername";

    /// <summary>
    /// Writes <paramref name="result"/> to <paramref name="path"/> through a temporary file in the same
    /// folder that is then renamed over the target, so readers never see a partial file.
    /// </summary>
    /// <exception cref="ArgumentException">A layer's sparsities are not a prefix of the result's sparsities (cells are positional).</exception>
    public static void Write(string path, SensitivityResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = new StringBuilder();
        IO.PythonCsv.AppendRow(text, [FirstColumn, .. result.Sparsities.Select(PythonFloat.Repr)]);
        foreach (var (layer, metrics) in result.Metrics)
        {
            var keys = metrics.Keys.Order().ToList();
            if (!keys.SequenceEqual(result.Sparsities.Take(keys.Count)))
                throw new ArgumentException(
                    $"Layer '{layer}' has metrics at sparsities [{string.Join(", ", keys.Select(PythonFloat.Repr))}], which are not the first " +
                    $"{keys.Count} of [{string.Join(", ", result.Sparsities.Select(PythonFloat.Repr))}]; NNI's CSV format cannot hold gaps.",
                    nameof(result));
            IO.PythonCsv.AppendRow(text, [layer, .. keys.Select(k => PythonFloat.Repr(metrics[k]))]);
        }
        IO.AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>
    /// Reads a file in NNI's format. The returned <see cref="SensitivityResult.Baseline"/> is NaN because
    /// the format does not store it.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a sensitivity CSV (the message names the line).</exception>
    public static SensitivityResult Read(string path)
    {
        var table = ReadTable(path);
        var metrics = new OrderedDictionary<string, IReadOnlyDictionary<double, double>>();
        foreach (var (layer, row) in table.Rows) metrics[layer] = row;
        return new SensitivityResult(double.NaN, table.Sparsities,
            new ReadOnlyDictionary<string, IReadOnlyDictionary<double, double>>(metrics));
    }

    /// <summary>
    /// Merges the CSV files of shards analysed in parallel into <paramref name="output"/>. Every file
    /// must have the same header. Rows are interleaved (the first row of each file in the order given, then
    /// the second row of each, ...), which undoes <see cref="SensitivityAnalysis.SelectShard"/>: given the
    /// shards in shard order, the merged file equals the file of one unsharded run.
    /// </summary>
    /// <exception cref="ArgumentException">No input file.</exception>
    /// <exception cref="InvalidDataException">Headers differ, or a layer appears in two files (both are named).</exception>
    public static void Merge(IEnumerable<string> paths, string output)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var files = paths.ToList();
        if (files.Count == 0) throw new ArgumentException("There are no files to merge.", nameof(paths));
        var tables = files.Select(ReadTable).ToList();
        for (var i = 1; i < tables.Count; i++)
            if (!tables[i].Header.SequenceEqual(tables[0].Header))
                throw new InvalidDataException(
                    $"Cannot merge: the header of '{files[i]}' ({string.Join(",", tables[i].Header)}) differs from the header of " +
                    $"'{files[0]}' ({string.Join(",", tables[0].Header)}). All shards must use the same sparsities.");

        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        var metrics = new OrderedDictionary<string, IReadOnlyDictionary<double, double>>();
        var rows = tables.Max(t => t.Rows.Count);
        for (var r = 0; r < rows; r++)
            for (var f = 0; f < tables.Count; f++)
            {
                if (r >= tables[f].Rows.Count) continue;
                var (layer, row) = tables[f].Rows[r];
                if (owner.TryGetValue(layer, out var first))
                    throw new InvalidDataException($"Cannot merge: layer '{layer}' is in both '{first}' and '{files[f]}'.");
                owner[layer] = files[f];
                metrics[layer] = row;
            }
        Write(output, new SensitivityResult(double.NaN, tables[0].Sparsities,
            new ReadOnlyDictionary<string, IReadOnlyDictionary<double, double>>(metrics)));
    }

    private sealed record Table(
        IReadOnlyList<string> Header,
        IReadOnlyList<double> Sparsities,
        IReadOnlyList<(string Layer, IReadOnlyDictionary<double, double> Row)> Rows);

    private static Table ReadTable(string path)
    {
        var records = ParseRecords(File.ReadAllText(path), path);
        if (records.Count == 0 || records[0].Fields.Count == 0 || records[0].Fields[0] != FirstColumn)
            throw new InvalidDataException($"'{path}' is not a sensitivity CSV: the first line must start with '{FirstColumn}'.");
        var header = records[0].Fields;
        var sparsities = header.Skip(1).Select(h => Number(h, path, records[0].Line, "sparsity")).ToList();
        var rows = new List<(string, IReadOnlyDictionary<double, double>)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Count - 1 > sparsities.Count)
                throw new InvalidDataException(
                    $"'{path}' line {line}: {fields.Count - 1} metrics for {sparsities.Count} sparsities in the header.");
            if (!seen.Add(fields[0]))
                throw new InvalidDataException($"'{path}' line {line}: layer '{fields[0]}' appears twice.");
            var row = new OrderedDictionary<double, double>();
            for (var i = 1; i < fields.Count; i++) row[sparsities[i - 1]] = Number(fields[i], path, line, "metric");
            rows.Add((fields[0], new ReadOnlyDictionary<double, double>(row)));
        }
        return new Table(header, sparsities, rows);
    }

    private static double Number(string text, string path, int line, string what) =>
        PythonFloat.TryParse(text, out var value)
            ? value
            : throw new InvalidDataException($"'{path}' line {line}: the {what} '{text}' is not a number.");

    /// <summary>Splits CSV text into records (RFC 4180 quoting; "\r\n" or "\n"); blank lines are skipped.</summary>
    private static List<(int Line, List<string> Fields)> ParseRecords(string text, string path)
    {
        var records = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, fieldStarted = false;
        int line = 1, recordLine = 1;
        void EndField() { fields.Add(field.ToString()); field.Clear(); fieldStarted = false; }
        void EndRecord()
        {
            if (fields.Count > 0 || fieldStarted || field.Length > 0) { EndField(); records.Add((recordLine, fields)); }
            fields = [];
        }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; field.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; fieldStarted = true; break;
                case ',': EndField(); fieldStarted = true; break;
                case '\r' when i + 1 < text.Length && text[i + 1] == '\n': break;
                case '\n': EndRecord(); line++; recordLine = line; break;
                default: field.Append(c); break;
            }
        }
        if (quoted) throw new InvalidDataException($"'{path}' line {recordLine}: a quoted field is not closed.");
        EndRecord();
        return records;
    }

}
