using Trainer.Core.Data.Tabular;

namespace Trainer.Core.Tests.Data.Tabular;

/// <summary>CSV as text cells under a header: quoted fields, and each malformed file one error naming file and line.</summary>
public sealed class CsvTableTests
{
    [Fact]
    public void Cells_are_read_under_the_header_with_quoted_commas_and_line_numbers_of_each_row()
    {
        using var files = new CsvFiles();
        var path = files.Write("t.csv", "a, b ,\"c,d\"\r\n1,2,3\n\n4,\"5\n5\",6\n7,8,9\n");

        var table = CsvTable.Read(path);

        Assert.Equal(["a", "b", "c,d"], table.Columns);
        Assert.Equal(3, table.Rows.Count);
        Assert.Equal(["4", "5\n5", "6"], table.Rows[1]);
        Assert.Equal([2, 4, 6], table.Lines);
        Assert.Equal(1, table.IndexOf("B"));
        Assert.Equal(9.0, table.Number(2, 2));
    }

    [Theory]
    [InlineData("a,b\n1,2\n3\n", "line 3 has 1 field(s); the header has 2 (a, b)")]
    [InlineData("a,b\n", "has a header but no data rows")]
    [InlineData("a,a\n1,2\n", "names the column 'a' 2 times in its header")]
    [InlineData("a,b\n1,\"2\n", "cannot be parsed: Malformed CSV in record 2 (line 2): a quoted field that is never closed")]
    [InlineData("", "is empty (0 bytes)")]
    public void A_malformed_file_is_one_error_naming_it(string text, string message)
    {
        using var files = new CsvFiles();
        var path = files.Write("bad.csv", text);
        var e = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path));
        Assert.Contains($"'{path}'", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_cell_that_is_not_a_number_is_named_by_row_line_and_column()
    {
        using var files = new CsvFiles();
        var table = CsvTable.Read(files.Write("t.csv", "x1,x2\n1,2\n3,abc\n5,\n"));
        var e = Assert.Throws<InvalidDataException>(() => table.Number(1, 1));
        Assert.Contains("row 2 (line 3), column 2 ('x2'): 'abc' is not a number", e.Message);
        e = Assert.Throws<InvalidDataException>(() => table.Number(2, 1));
        Assert.Contains("row 3 (line 4), column 2 ('x2'): the cell is empty", e.Message);
    }
}
