using System.Globalization;
using CsvHelper;
using Trainer.Core.IO;

namespace Trainer.Core.Data.Tabular;

/// <summary>
/// A CSV file as text cells under its header (RFC 4180, comma-separated, quoted fields allowed; CsvHelper parses it). Every
/// row must have the header's field count. Cells are converted later, where the row and column of a bad one can be named
/// (<see cref="Number"/>).
/// </summary>
public sealed class CsvTable
{
    private CsvTable(string file, string[] columns, List<string[]> rows, List<int> lines)
    {
        File = file;
        Columns = columns;
        Rows = rows;
        Lines = lines;
    }

    /// <summary>The file read.</summary>
    public string File { get; }

    /// <summary>Column names from the header, in file order.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>Data rows (the header excluded), each with one cell per column.</summary>
    public IReadOnlyList<string[]> Rows { get; }

    /// <summary>Line of the file each data row starts on (the header is line 1).</summary>
    public IReadOnlyList<int> Lines { get; }

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable, not UTF-8, has no header or no data row, repeats a
    /// column name, or has a row whose field count differs from the header's (the message names the file and line).</exception>
    public static CsvTable Read(string path)
    {
        var text = FileBytes.ReadText(path, "CSV file", m => new InvalidDataException(m));
        var options = new CsvReaderOptions
        {
            HasHeader = true,
            Separator = ',',
            // Checked here, so the message can name the line and both counts.
            FieldCountMismatch = CsvFieldCountHandling.Allow,
            MalformedData = CsvMalformedDataHandling.Throw,
            TrackLineNumbers = true,
            SkipEmptyLines = true,
        };
        try
        {
            using var csv = CsvReader.FromText(text, options);
            if (csv.Headers is not { Count: > 0 } header || header.All(h => h.Trim().Length == 0))
                throw new InvalidDataException($"CSV file '{path}' has no header row; the first line must name the columns.");
            string[] columns = [.. header.Select(c => c.Trim())];
            var duplicate = columns.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
                throw new InvalidDataException($"CSV file '{path}' names the column '{duplicate.Key}' {duplicate.Count()} times in its header; rename the copies.");
            var rows = new List<string[]>();
            var lines = new List<int>();
            while (csv.Read())
            {
                var line = (int)csv.LineNumber;
                if (csv.FieldCount != columns.Length)
                    throw new InvalidDataException($"CSV file '{path}' line {line} has {csv.FieldCount} field(s); the header has {columns.Length} " +
                                                   $"({string.Join(", ", columns)}).");
                var fields = new string[columns.Length];
                for (var i = 0; i < fields.Length; i++) fields[i] = csv.GetString(i);
                rows.Add(fields);
                lines.Add(line);
            }
            if (rows.Count == 0)
                throw new InvalidDataException($"CSV file '{path}' has a header but no data rows.");
            return new CsvTable(path, columns, rows, lines);
        }
        catch (CsvFormatException e)
        {
            throw new InvalidDataException($"CSV file '{path}' cannot be parsed: {e.Message}", e);
        }
    }

    /// <summary>Index of the column <paramref name="name"/> (exact, then case-insensitive match), or -1.</summary>
    public int IndexOf(string name)
    {
        for (var i = 0; i < Columns.Count; i++) if (Columns[i] == name) return i;
        for (var i = 0; i < Columns.Count; i++) if (Columns[i].Equals(name, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    /// <summary>The cell of data row <paramref name="row"/>, column <paramref name="column"/>, as a finite number.</summary>
    /// <exception cref="InvalidDataException">The cell is not a finite number; the message names the file, line, row and column.</exception>
    public double Number(int row, int column)
    {
        var cell = Rows[row][column].Trim();
        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)) return value;
        throw new InvalidDataException($"CSV file '{File}' row {row + 1} (line {Lines[row]}), column {column + 1} ('{Columns[column]}'): " +
                                       $"{(cell.Length == 0 ? "the cell is empty" : $"'{cell}' is not a number")}; every feature" +
                                       " cell (and a regression target) must be a finite number written with a '.' decimal point.");
    }
}
